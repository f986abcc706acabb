"""Preparing ViT-1D folders for the Hugging Face Hub, so that they load with `trust_remote_code=True` alone."""

from .configuration_vit1d import ViT1DConfig
from .feature_extraction_vit1d import ViT1DFeatureExtractor
from .modeling_vit1d import (
    ViT1DForAudioClassification,
    ViT1DForAudioFrameClassification,
    ViT1DForContrastivePretraining,
    ViT1DModel,
    ViT1DPreTrainedModel,
)

# Every Auto class a ViT-1D folder can be opened with, whatever head was saved: a bare encoder loads into a head
# model with a freshly initialised head, as users of AutoModelForAudioClassification expect.
AUTO_CLASSES = {
    "AutoConfig": ViT1DConfig,
    "AutoModel": ViT1DModel,
    "AutoModelForPreTraining": ViT1DForContrastivePretraining,
    "AutoModelForAudioClassification": ViT1DForAudioClassification,
    "AutoModelForAudioFrameClassification": ViT1DForAudioFrameClassification,
}


def _auto_class_of(model: ViT1DPreTrainedModel) -> str:
    for auto_class, model_class in AUTO_CLASSES.items():
        if type(model) is model_class:
            return auto_class
    raise TypeError(f"{type(model).__name__} is not a ViT-1D model class.")


def auto_map() -> dict[str, str]:
    """The `auto_map` of a ViT-1D config: Auto class -> `module.Class` inside the saved folder."""
    return {name: f"{cls.__module__.split('.')[-1]}.{cls.__name__}" for name, cls in AUTO_CLASSES.items()}


def prepare_for_hub(
    model: ViT1DPreTrainedModel, feature_extractor: ViT1DFeatureExtractor | None = None
) -> ViT1DPreTrainedModel:
    """Make the next `save_pretrained` write a folder that loads without the `vit1d` package.

    Calls `register_for_auto_class` on the config, the model and the feature extractor: `save_pretrained` then copies
    `configuration_vit1d.py`, `modeling_vit1d.py` and `feature_extraction_vit1d.py` next to the weights and writes
    `auto_map` into `config.json` (every ViT-1D Auto class) and `preprocessor_config.json`. Users then load it with
    `AutoModel.from_pretrained(repo, trust_remote_code=True, revision=...)`.

    Note that `register_for_auto_class` sets a class attribute: it affects every instance of these classes.
    """
    model.config.register_for_auto_class()
    type(model).register_for_auto_class(_auto_class_of(model))
    model.config.auto_map = auto_map()
    if feature_extractor is not None:
        type(feature_extractor).register_for_auto_class("AutoFeatureExtractor")
    return model
