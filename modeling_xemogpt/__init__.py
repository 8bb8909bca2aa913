"""XEmoGPT model package.

The files of this package are remote code: ``save_pretrained`` copies them flat into every checkpoint, so they use
relative imports only and import nothing but torch / transformers / peft. Importing the package also registers the
classes with transformers' Auto classes for this process (``trust_remote_code`` is then not needed here).
"""

from transformers import AutoConfig, AutoModel

from .configuration_xemogpt import PAPER_BACKBONES, PRESETS, XEmoGPTConfig
from .modeling_aecb import AECBForPretraining, AudioEmotionalCueBridge
from .modeling_vecb import VECBForPretraining, VideoEmotionalCueBridge
from .modeling_xemogpt import MODALITIES, XEmoGPTForConditionalGeneration, XEmoGPTPreTrainedModel, loss_positions

AutoConfig.register("xemogpt", XEmoGPTConfig, exist_ok=True)
AutoModel.register(XEmoGPTConfig, XEmoGPTForConditionalGeneration, exist_ok=True)

__all__ = [
    "XEmoGPTConfig",
    "PRESETS",
    "PAPER_BACKBONES",
    "VideoEmotionalCueBridge",
    "VECBForPretraining",
    "AudioEmotionalCueBridge",
    "AECBForPretraining",
    "XEmoGPTPreTrainedModel",
    "XEmoGPTForConditionalGeneration",
    "MODALITIES",
    "loss_positions",
]
