"""vit1d: the ViT-1D music transformer of Kong et al. (ISMIR 2025) as a Hugging Face Transformers model.

Importing the package registers the config, the models and the feature extractor with transformers' Auto classes,
so that `AutoModel.from_pretrained(folder)` works for any saved ViT-1D folder without `trust_remote_code`.
"""

from transformers import (
    AutoConfig,
    AutoFeatureExtractor,
    AutoModel,
    AutoModelForAudioClassification,
    AutoModelForAudioFrameClassification,
    AutoModelForPreTraining,
)

from .audio import audio_info, load_audio, stream_audio
from .configuration_vit1d import ViT1DConfig
from .embedding import LongAudioEmbedding, embed_long_audio
from .feature_extraction_vit1d import ViT1DFeatureExtractor
from .hub import prepare_for_hub
from .modeling_vit1d import (
    ViT1DForAudioClassification,
    ViT1DForAudioFrameClassification,
    ViT1DForContrastivePretraining,
    ViT1DModel,
    ViT1DPreTrainedModel,
    nt_xent_loss,
)

__version__ = "0.1.0"

AutoConfig.register(ViT1DConfig.model_type, ViT1DConfig, exist_ok=True)
AutoModel.register(ViT1DConfig, ViT1DModel, exist_ok=True)
AutoModelForPreTraining.register(ViT1DConfig, ViT1DForContrastivePretraining, exist_ok=True)
AutoModelForAudioClassification.register(ViT1DConfig, ViT1DForAudioClassification, exist_ok=True)
AutoModelForAudioFrameClassification.register(ViT1DConfig, ViT1DForAudioFrameClassification, exist_ok=True)
AutoFeatureExtractor.register(ViT1DConfig, ViT1DFeatureExtractor, exist_ok=True)

__all__ = [
    "LongAudioEmbedding",
    "ViT1DConfig",
    "ViT1DFeatureExtractor",
    "ViT1DForAudioClassification",
    "ViT1DForAudioFrameClassification",
    "ViT1DForContrastivePretraining",
    "ViT1DModel",
    "ViT1DPreTrainedModel",
    "audio_info",
    "embed_long_audio",
    "load_audio",
    "nt_xent_loss",
    "prepare_for_hub",
    "stream_audio",
]
