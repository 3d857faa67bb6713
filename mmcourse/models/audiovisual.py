"""Audio-visual models of notebook 07: sound as input, a visual teacher for sound, and where a
sound comes from in a picture.

WaveformCNN          raw samples (B, T) -> (B, out_dim): strided 1-D convolutions, then the
                     maximum over time (SoundNet's design: the first layer learns its own filters)
LogMelCNN            the same clips through 02's log-mel spectrogram (mmcourse.audio), then a
                     small 2-D CNN: the filterbank is designed, not learned; pooled over time
                     only, since a band's height is its pitch
SoundClassifier      an encoder + one linear head per attribute (colour, shape, size)
distillation_loss    SoundNet's objective: KL(teacher || student) per head, on unlabeled pairs
SoundLocaliser       Senocak et al. 2018 in small: an audio embedding attends over a visual
                     feature map; trained only from which sound goes with which picture
                     (InfoNCE over the attended similarity); its cosine map localises
object_guided        EZ-VSL's refinement: that map times the frozen features' strength per cell
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import checks

MIN_SAMPLES = 256  # a clip shorter than this leaves the 1-D CNN (stride 64) with almost no time steps


def _check_waves(waves, name: str = "waves", dtype=None) -> torch.Tensor:
    """A batch of mono clips (B, T): floating point, finite, T >= MIN_SAMPLES."""
    checks.features(waves, name, ndim=2, dtype=dtype, nonempty=True, shape="(B, samples)")
    if waves.shape[1] < MIN_SAMPLES:
        raise ValueError(f"{name} must hold clips of at least {MIN_SAMPLES} samples, got shape {tuple(waves.shape)}")
    return waves


class WaveformCNN(nn.Module):
    """Raw waveform -> vector. Five strided conv + BN + ReLU layers (total stride 64: 4,000
    samples become 64 time steps), then the maximum over time, so a note counts wherever it
    starts, and a Linear."""

    def __init__(self, out_dim: int = 128, width: int = 32):
        super().__init__()
        out_dim, w = checks.integer(out_dim, "out_dim", low=1), checks.integer(width, "width", low=1)
        layers, c = [], 1
        for kernel, stride, c_out in ((32, 4, w), (8, 2, w), (8, 2, 2 * w), (8, 2, 2 * w), (8, 2, 4 * w)):
            layers += [nn.Conv1d(c, c_out, kernel, stride, kernel // 2, bias=False), nn.BatchNorm1d(c_out), nn.ReLU()]
            c = c_out
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(c, out_dim)
        self.out_dim = out_dim

    def forward(self, waves: torch.Tensor) -> torch.Tensor:
        _check_waves(waves, dtype=self.fc.weight.dtype)
        return self.fc(self.features(waves[:, None]).amax(dim=-1))


class LogMelCNN(nn.Module):
    """Waveform -> log-mel spectrogram (n_mels x frames, in dB, from mmcourse.audio) -> three
    conv + BN + ReLU + pool blocks -> maximum over time -> Linear over (channels x bands).

    Time is pooled away (a note counts wherever it starts); frequency is not: unlike an
    image's x and y, a band's position *is* information (its pitch), and averaging over the
    frequency axis cost this network most of its shape (timbre) accuracy in our runs."""

    def __init__(self, out_dim: int = 128, sample_rate: int = 8_000, n_fft: int = 512, hop_length: int = 128,
                 n_mels: int = 64, width: int = 32):
        super().__init__()
        out_dim, w = checks.integer(out_dim, "out_dim", low=1), checks.integer(width, "width", low=1)
        self.sample_rate = checks.integer(sample_rate, "sample_rate", low=1000)
        self.n_fft = checks.integer(n_fft, "n_fft", low=16)
        self.hop_length = checks.integer(hop_length, "hop_length", low=1)
        self.n_mels = checks.integer(n_mels, "n_mels", low=8)
        layers, c = [], 1
        for c_out in (w, 2 * w, 4 * w):
            layers += [nn.Conv2d(c, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(), nn.MaxPool2d(2)]
            c = c_out
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(c * (self.n_mels // 8), out_dim)
        self.out_dim = out_dim

    def log_mel(self, waves: torch.Tensor) -> torch.Tensor:
        """(B, T) -> (B, n_mels, frames): dB, 80 dB range, shifted and scaled to about [-1, 1]."""
        from .. import audio

        _check_waves(waves, dtype=self.fc.weight.dtype)
        mel = audio.melspectrogram(waves, self.sample_rate, n_fft=self.n_fft, hop_length=self.hop_length,
                                   n_mels=self.n_mels)
        return (audio.power_to_db(mel, top_db=80.0) + 40.0) / 40.0

    def forward(self, waves: torch.Tensor) -> torch.Tensor:
        fmap = self.features(self.log_mel(waves)[:, None])  # (B, C, mels/8, frames/8)
        if fmap.shape[-1] == 0:
            raise ValueError(f"waves of {waves.shape[1]} samples give fewer than 8 frames at hop_length="
                             f"{self.hop_length}; use longer clips or a smaller hop_length")
        return self.fc(fmap.amax(dim=-1).flatten(1))


class SoundClassifier(nn.Module):
    """(B, T) -> {head: (B, n_classes)}: an audio encoder, a ReLU, and one Linear per head."""

    def __init__(self, encoder: nn.Module, heads: dict[str, int]):
        super().__init__()
        checks.instance(encoder, "encoder", nn.Module)
        if not isinstance(heads, dict) or not heads:
            raise TypeError(f"heads must be a non-empty dict name -> number of classes, got {heads!r}")
        dim = getattr(encoder, "out_dim", None)
        if not isinstance(dim, int):
            raise ValueError("encoder must have an int attribute out_dim (WaveformCNN and LogMelCNN do)")
        self.encoder = encoder
        self.heads = nn.ModuleDict({k: nn.Linear(dim, checks.integer(n, f"heads[{k!r}]", low=2))
                                    for k, n in heads.items()})

    def forward(self, waves: torch.Tensor) -> dict[str, torch.Tensor]:
        h = F.relu(self.encoder(waves))
        return {k: head(h) for k, head in self.heads.items()}

    def loss(self, waves: torch.Tensor, labels: dict[str, torch.Tensor]) -> torch.Tensor:
        """Summed cross-entropy over the heads named in ``labels`` (class indices (B,))."""
        _check_labels(labels, self.heads)
        logits = self(waves)
        return sum(F.cross_entropy(logits[k], checks.token_ids(y, f"labels[{k!r}]", self.heads[k].out_features,
                                                               ndim=1, what="class indices"))
                   for k, y in labels.items())

    @torch.no_grad()
    def predict(self, waves: torch.Tensor, batch: int = 512) -> dict[str, torch.Tensor]:
        """Class indices per head, in batches, on the model's device; returned on the CPU."""
        device = next(self.parameters()).device
        out = [{k: v.argmax(-1).cpu() for k, v in self(waves[i:i + batch].to(device)).items()}
               for i in range(0, len(waves), batch)]
        return {k: torch.cat([o[k] for o in out]) for k in self.heads}


def _check_labels(labels, heads) -> None:
    if not isinstance(labels, dict) or not labels:
        raise TypeError(f"labels must be a non-empty dict with keys among {sorted(heads)}, got {type(labels).__name__}")
    unknown = set(labels) - set(heads)
    if unknown:
        raise ValueError(f"labels name heads {sorted(unknown)} the model does not have; its heads: {sorted(heads)}")


def distillation_loss(student: dict[str, torch.Tensor], teacher: dict[str, torch.Tensor],
                      temperature: float = 1.0) -> torch.Tensor:
    """SoundNet's loss: for every head the teacher gives, KL(p_teacher || p_student) of the
    softmaxes at ``temperature``, times temperature**2 (Hinton et al.'s scaling, so gradients keep
    their size), summed over heads. The teacher's logits carry no gradient."""
    temperature = checks.number(temperature, "temperature", low=0.01, high=100.0)
    if not isinstance(student, dict) or not isinstance(teacher, dict):
        raise TypeError("student and teacher must be dicts head -> logits (B, n_classes)")
    missing = set(teacher) - set(student)
    if missing or not teacher:
        raise ValueError(f"the student lacks heads {sorted(missing)} the teacher gives; "
                         f"student: {sorted(student)}, teacher: {sorted(teacher)}")
    total = 0.0
    for k, t in teacher.items():
        s = checks.features(student[k], f"student[{k!r}]", ndim=2, nonempty=True, shape="(B, n_classes)")
        checks.features(t, f"teacher[{k!r}]", ndim=2, nonempty=True, shape="(B, n_classes)")
        if s.shape != t.shape:
            raise ValueError(f"head {k!r}: student logits {tuple(s.shape)} and teacher logits {tuple(t.shape)} differ")
        p_teacher = F.softmax(t.detach() / temperature, dim=-1)
        total = total + F.kl_div(F.log_softmax(s / temperature, dim=-1), p_teacher,
                                 reduction="batchmean") * temperature ** 2
    return total


class SoundLocaliser(nn.Module):
    """Which part of the picture is sounding? (Senocak et al. 2018, small.)

    The audio encoder gives one vector a; a 1x1-conv projection gives one vector v per cell of
    the (frozen) visual feature map. Their cosine per cell is the localisation map. The picture's
    vector *for this sound* is the attention-weighted sum over cells (softmax of the cosines times
    ``sharpness``), and training asks only that it match the sound that goes with the picture
    better than the other sounds of the batch (InfoNCE, both directions). No box, no mask."""

    def __init__(self, visual_channels: int, audio_encoder: nn.Module | None = None, dim: int = 128,
                 sharpness: float = 4.0):
        super().__init__()
        visual_channels = checks.integer(visual_channels, "visual_channels", low=1)
        dim = checks.integer(dim, "dim", low=1)
        self.sharpness = checks.number(sharpness, "sharpness", low=0, low_open=True)
        self.audio = audio_encoder if audio_encoder is not None else WaveformCNN(out_dim=dim)
        if getattr(self.audio, "out_dim", None) != dim:
            raise ValueError(f"audio_encoder.out_dim must equal dim={dim}, got {getattr(self.audio, 'out_dim', None)}")
        self.visual = nn.Sequential(nn.Conv2d(visual_channels, dim, 1), nn.ReLU(), nn.Conv2d(dim, dim, 1))
        self.log_scale = nn.Parameter(torch.tensor(2.3))  # logits = exp(log_scale) * similarity, learned (CLIP)

    def _check_maps(self, fmaps):
        checks.features(fmaps, "fmaps", ndim=4, dtype=self.log_scale.dtype, nonempty=True, shape="(B, C, H, W)")
        if fmaps.shape[1] != self.visual[0].in_channels:
            raise ValueError(f"fmaps must have {self.visual[0].in_channels} channels, got shape {tuple(fmaps.shape)}")
        return fmaps

    def _embed(self, fmaps: torch.Tensor, waves: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Checked inputs -> unit vectors: v (B_pictures, dim, H, W) per cell, a (B_sounds, dim)."""
        v = F.normalize(self.visual(self._check_maps(fmaps)), dim=1)
        a = F.normalize(self.audio(_check_waves(waves, dtype=self.log_scale.dtype)), dim=1)
        return v, a

    def _attend(self, sim: torch.Tensor) -> torch.Tensor:
        """(B_pictures, B_sounds, H, W) cosines -> (B_pictures, B_sounds) attended, scaled scores."""
        sim = sim.flatten(2)                                        # (B, S, H*W)
        attention = torch.softmax(self.sharpness * sim, dim=-1)    # where in the picture this sound points
        return (attention * sim).sum(-1) * self.log_scale.exp()

    def similarity(self, fmaps: torch.Tensor, waves: torch.Tensor) -> torch.Tensor:
        """Every picture against every sound: (B_pictures, B_sounds, H, W) cosine similarities."""
        v, a = self._embed(fmaps, waves)
        return torch.einsum("bchw,sc->bshw", v, a)

    def localise(self, fmaps: torch.Tensor, waves: torch.Tensor) -> torch.Tensor:
        """The map of each picture for its own sound: (B, H, W) cosines in [-1, 1]."""
        v, a = self._embed(fmaps, waves)
        if len(v) != len(a):
            raise ValueError(f"fmaps and waves must pair up: {len(v)} pictures, {len(a)} sounds")
        return (v * a[:, :, None, None]).sum(1)

    def scores(self, fmaps: torch.Tensor, waves: torch.Tensor) -> torch.Tensor:
        """(B_pictures, B_sounds): how well each sound matches each picture, attending over cells."""
        return self._attend(self.similarity(fmaps, waves))

    def loss(self, fmaps: torch.Tensor, waves: torch.Tensor) -> torch.Tensor:
        v, a = self._embed(fmaps, waves)
        if len(v) != len(a) or len(v) < 2:
            raise ValueError(f"fmaps and waves must hold the same number (>= 2) of pictures and sounds, got "
                             f"{len(v)} and {len(a)}")
        s = self._attend(torch.einsum("bchw,sc->bshw", v, a))
        target = torch.arange(len(s), device=s.device)
        return (F.cross_entropy(s, target) + F.cross_entropy(s.T, target)) / 2


def object_guided(maps: torch.Tensor, fmaps: torch.Tensor) -> torch.Tensor:
    """Object-guided localisation (Mo & Morgado's EZ-VSL, 2022, in its multiplicative form): the
    audio-visual map (B, h, w), negative cells set to zero, times the frozen visual feature map's
    activation strength per cell (the L2 norm over channels of ``fmaps`` (B, C, h, w)) - which
    object comes from the sound, where that object's edges are from the picture alone."""
    checks.features(maps, "maps", ndim=3, nonempty=True, shape="(B, h, w)")
    checks.features(fmaps, "fmaps", ndim=4, nonempty=True, shape="(B, C, h, w)")
    if fmaps.shape[0] != maps.shape[0] or fmaps.shape[2:] != maps.shape[1:]:
        raise ValueError(f"fmaps (B, C, h, w) must match maps (B, h, w): got {tuple(fmaps.shape)} and {tuple(maps.shape)}")
    return maps.clamp(min=0) * fmaps.norm(dim=1)
