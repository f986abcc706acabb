"""Preparing ViT-1D folders for the Hugging Face Hub (they load with `trust_remote_code=True` alone), their model
cards, and uploads."""

from pathlib import Path

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


MODEL_CARD_TEMPLATE = Path(__file__).with_name("model_card.md")


def _markdown_table(rows: dict) -> str:
    lines = ["| | |", "|---|---|"]
    lines += [f"| {key} | {value} |" for key, value in rows.items()]
    return "\n".join(lines)


def model_card(
    model: ViT1DPreTrainedModel,
    feature_extractor: ViT1DFeatureExtractor,
    repo_id: str | None = None,
    training_recipe: dict | None = None,
    datasets: list[str] | None = None,
    **template_values,
):
    """A `huggingface_hub.ModelCard` from the package's template, filled from the config, the feature extractor and
    the training recipe actually used (a mapping rendered as a table)."""
    from huggingface_hub import ModelCard, ModelCardData

    config = model.config
    card_data = ModelCardData(
        library_name="transformers",
        pipeline_tag="feature-extraction",
        license=template_values.pop("license", "apache-2.0"),
        tags=["audio", "music", "vit1d", "contrastive-learning", "custom_code"],
        datasets=datasets,
    )
    values = {
        "num_hidden_layers": config.num_hidden_layers,
        "hidden_size": config.hidden_size,
        "num_attention_heads": config.num_attention_heads,
        "intermediate_size": config.intermediate_size,
        "frames_per_patch": config.frames_per_patch,
        "position_embedding_type": config.position_embedding_type,
        "num_parameters": f"{model.num_parameters():,}",
        "pooling": config.pooling,
        "sampling_rate": feature_extractor.sampling_rate,
        "n_fft": feature_extractor.n_fft,
        "hop_length": feature_extractor.hop_length,
        "tokens_per_second": feature_extractor.sampling_rate / feature_extractor.hop_length,
        "num_mel_bins": feature_extractor.feature_size,
        "f_min": feature_extractor.f_min,
        "f_max": feature_extractor.f_max,
        "top_db": feature_extractor.top_db,
        "repo_id": repo_id,
    }
    if training_recipe:
        values["training_recipe"] = _markdown_table(training_recipe)
    values.update(template_values)
    return ModelCard.from_template(card_data, template_path=str(MODEL_CARD_TEMPLATE), **values)


def push_folder_to_hub(folder: str | Path, repo_id: str, private: bool = False, token: str | None = None,
                       commit_message: str = "Upload ViT-1D encoder", ignore_patterns=("checkpoints/*", "runs/*")):
    """Create the model repo if needed and upload a saved encoder folder (not its checkpoints or tracker logs)."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
    return api.upload_folder(repo_id=repo_id, folder_path=str(folder), commit_message=commit_message,
                             ignore_patterns=list(ignore_patterns))
