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

Notebook 07b (generation and separation):
MaskSeparator        Looking to Listen in small: a mixture's STFT magnitude -> dilated 1-D convs
                     (FiLM-conditioned on a vector, e.g. the target's visual features, when asked)
                     -> one sigmoid mask per output source -> inverse STFT
pit_loss             permutation-invariant training (negative SI-SDR under the best assignment)
FaceEncoder          Speech2Face's frozen face network: a CNN trained to name a face's five
                     attributes; its penultimate vector is "the face feature"
FaceDecoder          face feature -> 32 x 32 picture (trained separately, on frozen features)
unit_features        per-chunk log-mel spectra relative to the chunk's loudest band (loudness
                     removed): what k-means turns into discrete units
UnitVocoder          discrete units -> log-magnitude spectrogram (learned) -> waveform (Griffin-Lim)
lip_features         log-mel frames centred on the video frames (25 per second)
LipRegressor         those frames -> mouth opening per video frame, in [0, 1]
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import checks
from .encoders import ConvEncoder

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


# ---------------------------------------------------------------- Looking to Listen
class MaskSeparator(nn.Module):
    """mixture (B, T) -> estimates (B, n_sources, T) by masking the mixture's STFT.

    The network reads log(1 + 10 |STFT|) with frequency as channels: a 1x1 convolution, then
    residual blocks of dilated 3-tap convolutions along time (GroupNorm, ReLU); with
    ``cond_dim`` > 0 every block's output is scaled and shifted by a Linear of the (layer-
    normalised) condition vector (FiLM: Perez et al., 2018) - Looking to Listen's visual stream, in small. A 1x1
    convolution gives one sigmoid mask per source; mask x mixture STFT -> inverse STFT."""

    def __init__(self, n_sources: int = 1, cond_dim: int = 0, n_fft: int = 256, hop_length: int = 64,
                 hidden: int = 128, dilations=(1, 2, 4, 8, 16, 1, 2, 4)):
        super().__init__()
        self.n_sources = checks.integer(n_sources, "n_sources", low=1, high=8)
        self.cond_dim = checks.integer(cond_dim, "cond_dim", low=0)
        self.n_fft = checks.integer(n_fft, "n_fft", low=16, high=8192)
        self.hop_length = checks.integer(hop_length, "hop_length", low=1, high=self.n_fft)
        hidden = checks.integer(hidden, "hidden", low=1)
        dilations = tuple(checks.integer(d, "dilations", low=1, high=1024) for d in checks.items(dilations, "dilations",
                                                                                                  nonempty=True))
        bins = self.n_fft // 2 + 1
        self.inp = nn.Conv1d(bins, hidden, 1)
        self.blocks = nn.ModuleList([nn.Conv1d(hidden, hidden, 3, padding=d, dilation=d) for d in dilations])
        self.norms = nn.ModuleList([nn.GroupNorm(1, hidden) for _ in dilations])
        # the condition is layer-normalised first: raw visual features (max-pooled ReLUs) are large and
        # of any scale, and without it the FiLM factors made training diverge at the peak learning rate
        self.film = nn.Sequential(nn.LayerNorm(self.cond_dim), nn.Linear(self.cond_dim, 2 * hidden * len(dilations))) \
            if self.cond_dim else None
        self.out = nn.Conv1d(hidden, bins * self.n_sources, 1)
        self.register_buffer("window", torch.hann_window(self.n_fft), persistent=False)

    def _check(self, mix, cond):
        checks.features(mix, "mix", ndim=2, dtype=self.inp.weight.dtype, nonempty=True, shape="(B, samples)")
        if mix.shape[1] < self.n_fft:
            raise ValueError(f"mix must hold at least n_fft={self.n_fft} samples, got shape {tuple(mix.shape)}")
        if self.film is None:
            if cond is not None:
                raise ValueError("this separator is audio-only (cond_dim=0): call it without cond")
        else:
            if cond is None:
                raise ValueError(f"this separator is conditioned (cond_dim={self.cond_dim}): give cond (B, {self.cond_dim})")
            checks.features(cond, "cond", ndim=2, dim=self.cond_dim, dtype=self.inp.weight.dtype, shape="(B, cond_dim)")
            if len(cond) != len(mix):
                raise ValueError(f"cond must have one row per mixture ({len(mix)}), got shape {tuple(cond.shape)}")

    def stft(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stft(x, self.n_fft, self.hop_length, window=self.window, return_complex=True)

    def masks(self, mix: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """(B, n_sources, n_fft // 2 + 1, frames) masks in [0, 1]."""
        return self._masks(mix, cond)[0]

    def _masks(self, mix, cond) -> tuple[torch.Tensor, torch.Tensor]:
        """The masks and the mixture's STFT they apply to (computed once for both)."""
        self._check(mix, cond)
        spec = self.stft(mix)
        h = self.inp(torch.log1p(10 * spec.abs()))
        film = self.film(cond).view(len(mix), len(self.blocks), 2, -1, 1) if self.film is not None else None
        for i, (conv, norm) in enumerate(zip(self.blocks, self.norms)):
            z = norm(conv(h))
            if film is not None:
                z = z * (1 + film[:, i, 0]) + film[:, i, 1]
            h = h + F.relu(z)
        return torch.sigmoid(self.out(h)).view(len(mix), self.n_sources, *spec.shape[1:]), spec

    def forward(self, mix: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        m, spec = self._masks(mix, cond)
        spec = spec[:, None] * m                                            # (B, n, F, frames)
        out = torch.istft(spec.flatten(0, 1), self.n_fft, self.hop_length, window=self.window, length=mix.shape[1])
        return out.view(len(mix), self.n_sources, -1)


def pit_loss(estimates: torch.Tensor, sources: torch.Tensor) -> torch.Tensor:
    """Permutation-invariant training (Yu et al., 2017) with SI-SDR: estimates and sources
    (B, n, T); for each mixture the assignment of estimates to sources with the highest mean
    SI-SDR, and the loss is minus that mean, averaged over the batch. n! permutations: n <= 6."""
    import itertools

    from ..metrics import si_sdr

    checks.features(estimates, "estimates", ndim=3, nonempty=True, shape="(B, n_sources, samples)")
    checks.features(sources, "sources", ndim=3, nonempty=True, shape="(B, n_sources, samples)")
    if estimates.shape != sources.shape:
        raise ValueError(f"estimates and sources must have the same shape (B, n_sources, samples), got "
                         f"{tuple(estimates.shape)} and {tuple(sources.shape)}")
    n = estimates.shape[1]
    if n < 1 or n > 6:
        raise ValueError(f"pit_loss tries all n! assignments: estimates and sources must hold 1 to 6 sources, got "
                         f"shape {tuple(estimates.shape)}")
    if estimates.shape[2] < 2:
        raise ValueError(f"estimates and sources need at least 2 samples, got shape {tuple(estimates.shape)}")
    centred = sources - sources.mean(-1, keepdim=True)
    if (centred.double().pow(2).sum(-1) <= 1e-20).any():
        raise ValueError("sources holds a silent source (all zeros after removing its mean): its SI-SDR is undefined")
    pair = si_sdr(estimates[:, :, None].expand(-1, -1, n, -1), sources[:, None].expand(-1, n, -1, -1))
    # pair[b, i, j]: SI-SDR of estimate i against source j
    best = torch.stack([pair[:, list(range(n)), list(p)].mean(1) for p in itertools.permutations(range(n))], 1)
    return -best.amax(1).mean()


# ---------------------------------------------------------------- Speech2Face
def face_targets(attributes: torch.Tensor) -> torch.Tensor:
    """(B, 5) face attributes -> (B, 6) regression targets: width, eyes, mouth, skin, and the
    hair hue as (sin, cos) of 2 pi hue (a hue is an angle: 0 and 1 are the same red)."""
    checks.features(attributes, "attributes", ndim=2, dim=5, nonempty=True, shape="(B, 5)")
    angle = 2 * math.pi * attributes[:, 4:]
    return torch.cat([attributes[:, :4], torch.sin(angle), torch.cos(angle)], 1)


class FaceEncoder(nn.Module):
    """32 x 32 face -> (B, dim) face feature: ConvEncoder (width 16), trained with ``loss`` to
    regress the five attributes through a Linear ``head`` from the feature. Speech2Face's
    stand-in for a face-recognition network (VGG-Face): used frozen."""

    def __init__(self, dim: int = 64, width: int = 16):
        super().__init__()
        self.cnn = ConvEncoder(out_dim=checks.integer(dim, "dim", low=1), width=width)
        self.head = nn.Linear(dim, 6)
        self.dim = dim

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.cnn(images)

    def attributes(self, features: torch.Tensor) -> torch.Tensor:
        """Face features (B, dim) -> the five attributes they say (B, 5), hair hue back from its angle."""
        checks.features(features, "features", ndim=2, dim=self.dim, dtype=self.head.weight.dtype, shape="(B, dim)")
        t = self.head(F.relu(features))
        hue = torch.atan2(t[:, 4], t[:, 5]) / (2 * math.pi) % 1.0
        return torch.cat([t[:, :4], hue[:, None]], 1)

    def loss(self, images: torch.Tensor, attributes: torch.Tensor) -> torch.Tensor:
        """Mean squared error between the head's output and face_targets(attributes) (B, 5): one row per image."""
        checks.features(attributes, "attributes", ndim=2, dim=5, dtype=self.head.weight.dtype, nonempty=True,
                        shape="(B, 5)")
        out = self.head(F.relu(self(images)))
        if len(attributes) != len(out):
            raise ValueError(f"attributes must have one row per image ({len(out)}), got shape {tuple(attributes.shape)}")
        return F.mse_loss(out, face_targets(attributes))


class FaceDecoder(nn.Module):
    """Face feature (B, dim) -> picture (B, 3, 32, 32) in [0, 1]: the features standardised by a
    BatchNorm without parameters (the training features' statistics), a Linear to 128 x 4 x 4,
    three transposed convolutions. Trained on a frozen encoder's features (as Speech2Face's decoder)."""

    def __init__(self, dim: int = 64):
        super().__init__()
        self.dim = checks.integer(dim, "dim", low=1)
        self.norm = nn.BatchNorm1d(self.dim, affine=False)
        self.fc = nn.Linear(self.dim, 128 * 4 * 4)
        self.up = nn.Sequential(nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),
                                nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.BatchNorm2d(32), nn.ReLU(),
                                nn.ConvTranspose2d(32, 3, 4, 2, 1), nn.Sigmoid())

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        checks.features(features, "features", ndim=2, dim=self.dim, dtype=self.fc.weight.dtype, nonempty=True,
                        shape="(B, dim)")
        return self.up(self.fc(self.norm(features)).view(-1, 128, 4, 4))


# ---------------------------------------------------------------- image -> units -> sound
def _check_fft_dtype(x: torch.Tensor, name: str) -> None:
    """torch's FFT (and mmcourse.audio's) takes float32 or float64 on every device; refuse the rest here."""
    if x.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"{name} must be float32 or float64 for the FFT, got {x.dtype}; use {name}.float()")


def unit_features(waves: torch.Tensor, sample_rate: int, chunk: int, n_mels: int = 64,
                  floor_db: float = 60.0) -> torch.Tensor:
    """(B, T) -> (B, T // chunk, n_mels): each chunk of ``chunk`` samples, Hann-windowed, its
    power spectrum through a mel filterbank, in dB relative to the chunk's loudest band,
    floored at -``floor_db`` and divided by ``floor_db`` (so in [-1, 0]). Loudness is gone: what
    is left is the spectrum's shape - which harmonics, at what pitch. Samples after the last
    whole chunk are dropped."""
    from .. import audio

    checks.features(waves, "waves", ndim=2, nonempty=True, shape="(B, samples)")
    _check_fft_dtype(waves, "waves")
    sample_rate = checks.integer(sample_rate, "sample_rate", low=1000, high=10 ** 6)
    chunk = checks.integer(chunk, "chunk", low=16, high=10 ** 6)
    n_mels = checks.integer(n_mels, "n_mels", low=1, high=chunk // 2 + 1)
    floor_db = checks.number(floor_db, "floor_db", low=1.0, high=200.0)
    if waves.shape[1] < chunk:
        raise ValueError(f"waves must hold at least one chunk of {chunk} samples, got shape {tuple(waves.shape)}")
    n = waves.shape[1] // chunk
    pieces = waves[:, :n * chunk].reshape(len(waves), n, chunk)
    power = torch.fft.rfft(pieces * torch.hann_window(chunk, dtype=waves.dtype, device=waves.device)).abs() ** 2
    mel = power @ audio.mel_filterbank(sample_rate, chunk, n_mels).to(waves).T    # (B, n, n_mels)
    db = audio.power_to_db(mel, top_db=None)                                          # 10 log10(max(mel, 1e-10))
    return (db - db.amax(-1, keepdim=True)).clamp(min=-floor_db) / floor_db


class UnitVocoder(nn.Module):
    """Discrete units (B, U) -> log-magnitude spectrogram (B, n_fft // 2 + 1, U * frames_per_unit):
    a unit embedding, a 3-tap convolution over neighbouring units, each unit held for its
    frames, a 5-tap convolution that smooths the joins, a 1x1 convolution to the bins. Trained
    against log(|STFT| + 1e-3) of real sound; ``speak`` turns it into a waveform with torchaudio's
    Griffin-Lim (the phase is estimated, not learned)."""

    def __init__(self, n_units: int, n_fft: int = 512, hop_length: int = 100, frames_per_unit: int = 8, dim: int = 128):
        super().__init__()
        self.n_units = checks.integer(n_units, "n_units", low=2)
        self.n_fft = checks.integer(n_fft, "n_fft", low=16, high=8192)
        self.hop_length = checks.integer(hop_length, "hop_length", low=1, high=self.n_fft)
        self.frames_per_unit = checks.integer(frames_per_unit, "frames_per_unit", low=1, high=1000)
        dim = checks.integer(dim, "dim", low=1)
        self.embed = nn.Embedding(self.n_units, dim)
        self.context = nn.Conv1d(dim, dim, 3, padding=1)
        self.smooth = nn.Sequential(nn.Conv1d(dim, dim, 5, padding=2), nn.ReLU(), nn.Conv1d(dim, n_fft // 2 + 1, 1))
        self.register_buffer("window", torch.hann_window(self.n_fft), persistent=False)

    def forward(self, units: torch.Tensor) -> torch.Tensor:
        units = checks.token_ids(units, "units", self.n_units, what="unit ids")
        if units.shape[0] == 0 or units.shape[1] == 0:
            raise ValueError(f"units must hold at least one unit per row (B, U), got shape {tuple(units.shape)}")
        h = F.relu(self.context(self.embed(units).transpose(1, 2)))        # (B, dim, U)
        return self.smooth(h.repeat_interleave(self.frames_per_unit, dim=2))

    def target(self, waves: torch.Tensor) -> torch.Tensor:
        """log(|STFT| + 1e-3) of real sound (B, T): the training target, trimmed to whole units
        of the sound's length."""
        checks.features(waves, "waves", ndim=2, nonempty=True, shape="(B, samples)")
        least = max(self.n_fft // 2 + 1, self.hop_length * self.frames_per_unit)
        if waves.shape[1] < least:
            raise ValueError(f"waves must hold at least {least} samples (one unit of frames_per_unit * hop_length "
                             f"samples, and more than n_fft // 2), got shape {tuple(waves.shape)}")
        spec = torch.stft(waves, self.n_fft, self.hop_length, window=self.window, return_complex=True)
        frames = waves.shape[1] // self.hop_length // self.frames_per_unit * self.frames_per_unit
        return torch.log(spec.abs() + 1e-3)[..., :frames]

    @torch.no_grad()
    def speak(self, units: torch.Tensor, n_iter: int = 32) -> torch.Tensor:
        """Units (B, U) or (U,) -> waveforms (B, about U * frames_per_unit * hop_length) or (samples,)."""
        import torchaudio

        n_iter = checks.integer(n_iter, "n_iter", low=1, high=1000)
        single = torch.is_tensor(units) and units.ndim == 1
        mag = self(units[None] if single else units).exp()
        gl = torchaudio.transforms.GriffinLim(n_fft=self.n_fft, hop_length=self.hop_length, power=1.0,
                                              n_iter=n_iter).to(mag.device)
        wave = gl(mag)
        return wave[0] if single else wave


# ---------------------------------------------------------------- lip movement
def lip_features(waves: torch.Tensor, sample_rate: int, frame_rate: int = 25, n_mels: int = 40) -> torch.Tensor:
    """(B, T) -> (B, n_mels, frames): log-mel spectra (n_fft 2 hops, dB over 80 dB, about
    [-1, 1]) whose frames are centred where ``world.faces.speech`` samples the mouth - the middle
    of each 1 / frame_rate s video frame - so frame k of the sound goes with frame k of the face."""
    from .. import audio

    checks.features(waves, "waves", ndim=2, nonempty=True, shape="(B, samples)")
    _check_fft_dtype(waves, "waves")
    sample_rate = checks.integer(sample_rate, "sample_rate", low=1000, high=10 ** 6)
    frame_rate = checks.integer(frame_rate, "frame_rate", low=1, high=1000)
    hop = sample_rate // frame_rate
    if sample_rate % frame_rate or hop < 16:
        raise ValueError(f"sample_rate ({sample_rate}) must be a multiple of frame_rate ({frame_rate}) with at least "
                         f"16 samples per video frame")
    if waves.shape[1] < hop:
        raise ValueError(f"waves must hold at least one video frame (sample_rate // frame_rate = {hop} samples), "
                         f"got shape {tuple(waves.shape)}")
    frames = -(-waves.shape[1] // hop)
    shifted = F.pad(waves[:, hop // 2:], (0, hop))                     # frame k's centre: sample k * hop + hop / 2
    mel = audio.melspectrogram(shifted, sample_rate, n_fft=2 * hop, hop_length=hop, n_mels=n_mels)
    return ((audio.power_to_db(mel, top_db=80.0) + 40) / 40)[..., :frames]


class LipRegressor(nn.Module):
    """Sound frames (B, n_mels, frames) -> mouth opening (B, frames) in [0, 1]: 1-D convolutions
    over time of 5, 5 and 1 frames (together 9 frames, 0.36 s at 25 frames per second), a sigmoid."""

    def __init__(self, n_mels: int = 40, hidden: int = 64):
        super().__init__()
        self.n_mels = checks.integer(n_mels, "n_mels", low=1)
        hidden = checks.integer(hidden, "hidden", low=1)
        self.net = nn.Sequential(nn.Conv1d(self.n_mels, hidden, 5, padding=2), nn.ReLU(),
                                 nn.Conv1d(hidden, hidden, 5, padding=2), nn.ReLU(), nn.Conv1d(hidden, 1, 1))

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        checks.features(frames, "frames", ndim=3, dtype=self.net[0].weight.dtype, nonempty=True,
                        shape="(B, n_mels, frames)")
        if frames.shape[1] != self.n_mels:
            raise ValueError(f"frames must have n_mels={self.n_mels} rows, got shape {tuple(frames.shape)}")
        return torch.sigmoid(self.net(frames)[:, 0])
