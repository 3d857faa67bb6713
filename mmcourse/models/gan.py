"""Text-to-image with conditional GANs (Reed et al., 2016, "Generative Adversarial Text to
Image Synthesis"), scaled down to 32 x 32 images of the procedural world.

Generator       (z, text embedding) -> image in [-1, 1]. The embedding is mapped by a fully
                connected layer (+ leaky ReLU) to a short *text code*, concatenated with the
                noise z, and deconvolved (DCGAN) from 4 x 4 to 32 x 32. Fed z = 0 (or built
                with ``z_dim=0``) it is a deterministic regression model (text -> pixels).
Discriminator   (image, text embedding) -> one logit. Strided convolutions bring the image to
                a 4 x 4 feature map; the text code is *replicated spatially* and concatenated
                with it as extra channels (``join``); a 1 x 1 convolution, an average over the
                positions and two linear layers give the score.
d_loss, g_loss  the plain conditional-GAN losses and GAN-CLS's matching-aware D loss, which
                adds a third case: a real image with the wrong text counts as fake.
train_gan       the two-player loop (two optimisers, device-agnostic, AMP on CUDA) for
                "cgan", "gan-cls" and "gan-cls+int" (GAN-INT: the generator also learns from
                interpolated text embeddings, which have no real image, only a judge).
lerp, slerp     interpolation between text embeddings or noise vectors.
diversity, sharpness   numbers that make mode collapse and blur visible.
edit_latent     a CLIP-guided edit (the StyleCLIP idea): move a generated image's latent code
                (noise and text code) so an image-text model finds it closer to a new text,
                with a penalty that keeps the code near where it started.

Images are (B, 3, H, W) floats in [-1, 1] inside this module; ``to_unit`` maps them to [0, 1]
for classifiers and figures.
"""
from __future__ import annotations

import itertools
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import checks

METHODS = ("cgan", "gan-cls", "gan-cls+int")


def _check_text(text_emb, name: str, text_dim: int, batch: int | None = None) -> torch.Tensor:
    text_emb = checks.tensor(text_emb, name, dtype="float", finite=False)
    if text_emb.ndim != 2 or text_emb.shape[1] != text_dim:
        raise ValueError(f"{name} must be (B, {text_dim}) text embeddings, got shape {tuple(text_emb.shape)}")
    if batch is not None and text_emb.shape[0] != batch:
        raise ValueError(f"{name} has {text_emb.shape[0]} rows but the batch has {batch} (one embedding per image)")
    return text_emb


def _check_images(images, name: str, size: int) -> torch.Tensor:
    images = checks.tensor(images, name, dtype="float", finite=False)
    if images.ndim != 4 or images.shape[1:] != (3, size, size):
        raise ValueError(f"{name} must be (B, 3, {size}, {size}) images in [-1, 1], got shape {tuple(images.shape)}")
    return images


def to_unit(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 1] (what the classifiers and figures take)."""
    return ((images + 1) / 2).clamp(0, 1)


def from_unit(images: torch.Tensor) -> torch.Tensor:
    """[0, 1] (or uint8 0..255) -> [-1, 1] (what the GAN models take)."""
    if images.dtype == torch.uint8:
        images = images.float() / 255
    return images * 2 - 1


class Generator(nn.Module):
    """(z (B, z_dim), text (B, text_dim)) -> (B, 3, 32, 32) in [-1, 1].

    text -> Linear -> leaky ReLU = a ``code_dim`` text code; [z, code] -> Linear -> 4 x 4 x 4w
    -> three stride-2 transposed convolutions (BN + ReLU between) -> tanh.
    """

    def __init__(self, text_dim: int = 384, z_dim: int = 32, code_dim: int = 64, width: int = 32):
        super().__init__()
        self.text_dim = checks.integer(text_dim, "text_dim", low=1)
        self.z_dim = checks.integer(z_dim, "z_dim", low=0)
        self.code_dim = checks.integer(code_dim, "code_dim", low=1)
        w = checks.integer(width, "width", low=1)
        self.image_size = 32
        self.text_fc = nn.Sequential(nn.Linear(text_dim, code_dim), nn.LeakyReLU(0.2))
        self.fc = nn.Sequential(nn.Linear(z_dim + code_dim, 4 * 4 * 4 * w, bias=False), nn.BatchNorm1d(4 * 4 * 4 * w),
                                nn.ReLU(inplace=True), nn.Unflatten(1, (4 * w, 4, 4)))
        self.net = nn.Sequential(
            nn.ConvTranspose2d(4 * w, 2 * w, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * w), nn.ReLU(inplace=True),  # 8x8
            nn.ConvTranspose2d(2 * w, w, 4, 2, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True),          # 16x16
            nn.ConvTranspose2d(w, 3, 4, 2, 1), nn.Tanh())                                                         # 32x32

    def code(self, text_emb: torch.Tensor) -> torch.Tensor:
        """The compressed text code (B, code_dim) that conditions the image."""
        return self.text_fc(_check_text(text_emb, "text_emb", self.text_dim))

    def from_code(self, z: torch.Tensor | None, code: torch.Tensor) -> torch.Tensor:
        """Draw from a latent code: noise z (B, z_dim) (None when z_dim is 0) and a text code."""
        code = checks.tensor(code, "code", dtype="float", finite=False)
        if code.ndim != 2 or code.shape[1] != self.code_dim:
            raise ValueError(f"code must be (B, {self.code_dim}), got shape {tuple(code.shape)}")
        if self.z_dim == 0:
            if z is not None and z.numel():
                raise ValueError("this generator has no noise input (z_dim=0): pass z=None")
            x = code
        else:
            z = checks.tensor(z, "z", dtype="float", finite=False)
            if z.shape != (code.shape[0], self.z_dim):
                raise ValueError(f"z must be (B, z_dim) = ({code.shape[0]}, {self.z_dim}), got {tuple(z.shape)}")
            x = torch.cat([z, code], dim=1)
        return self.net(self.fc(x))

    def forward(self, z: torch.Tensor | None, text_emb: torch.Tensor) -> torch.Tensor:
        return self.from_code(z, self.code(text_emb))

    def noise(self, n: int, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
        """n standard normal noise vectors (drawn on the CPU with ``generator``, then moved)."""
        n = checks.integer(n, "n", low=0)
        return torch.randn(n, self.z_dim, generator=generator).to(device)


class Discriminator(nn.Module):
    """(image (B, 3, 32, 32), text (B, text_dim)) -> one logit per pair (B,).

    Image: three stride-2 convolutions (leaky ReLU; ``norm``: BatchNorm after the second and
    third, spectral norm on every layer, or none) -> 4 x 4 x 4w.
    Text: Linear -> leaky ReLU -> a ``code_dim`` code, replicated at every one of the 4 x 4
    positions and concatenated as channels (``join``). Then 1 x 1 conv -> average over the
    positions -> two linear layers -> logit.
    """

    def __init__(self, text_dim: int = 384, code_dim: int = 64, width: int = 32, norm: str = "none"):
        super().__init__()
        self.text_dim = checks.integer(text_dim, "text_dim", low=1)
        self.code_dim = checks.integer(code_dim, "code_dim", low=1)
        w = checks.integer(width, "width", low=1)
        checks.choice(norm, "norm", ("batch", "spectral", "none"))
        self.image_size = 32
        sn = nn.utils.parametrizations.spectral_norm if norm == "spectral" else (lambda m: m)
        bn = (lambda c: nn.BatchNorm2d(c)) if norm == "batch" else (lambda c: nn.Identity())
        self.trunk = nn.Sequential(
            sn(nn.Conv2d(3, w, 4, 2, 1)), nn.LeakyReLU(0.2, inplace=True),                          # 16x16
            sn(nn.Conv2d(w, 2 * w, 4, 2, 1)), bn(2 * w), nn.LeakyReLU(0.2, inplace=True),            # 8x8
            sn(nn.Conv2d(2 * w, 4 * w, 4, 2, 1)), bn(4 * w), nn.LeakyReLU(0.2, inplace=True))        # 4x4
        self.channels = channels = 4 * w
        self.text_fc = nn.Sequential(sn(nn.Linear(text_dim, code_dim)), nn.LeakyReLU(0.2))
        self.head = nn.Sequential(sn(nn.Conv2d(channels + code_dim, 2 * channels, 1)), nn.LeakyReLU(0.2, inplace=True),
                                  nn.AdaptiveAvgPool2d(1), nn.Flatten(), sn(nn.Linear(2 * channels, 2 * channels)),
                                  nn.LeakyReLU(0.2, inplace=True), sn(nn.Linear(2 * channels, 1)))

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The image's 4 x 4 feature map (B, 4w, 4, 4), before the text joins."""
        return self.trunk(to_unit(_check_images(images, "images", self.image_size)))

    @staticmethod
    def join(fmap: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        """Replicate the text code at every position of the feature map and stack it as channels:
        (B, C, H, W) and (B, K) -> (B, C + K, H, W)."""
        if fmap.ndim != 4 or code.ndim != 2 or fmap.shape[0] != code.shape[0]:
            raise ValueError(f"need a feature map (B, C, H, W) and codes (B, K) for the same B, got "
                             f"{tuple(fmap.shape)} and {tuple(code.shape)}")
        tiled = code[:, :, None, None].expand(-1, -1, fmap.shape[2], fmap.shape[3])
        return torch.cat([fmap, tiled], dim=1)

    def score(self, fmap: torch.Tensor, text_emb: torch.Tensor) -> torch.Tensor:
        """Logits (B,) for image features ``fmap`` paired with ``text_emb``."""
        text_emb = _check_text(text_emb, "text_emb", self.text_dim, batch=fmap.shape[0])
        return self.head(self.join(fmap, self.text_fc(text_emb))).flatten()

    def forward(self, images: torch.Tensor, text_emb: torch.Tensor) -> torch.Tensor:
        return self.score(self.features(images), text_emb)  # each checks its own input


# --------------------------------------------------------------------------------- losses

def _check_logits(s, name: str, n: int | None = None) -> torch.Tensor:
    s = checks.tensor(s, name, dtype="float", ndim=1, nonempty=True)
    if n is not None and len(s) != n:
        raise ValueError(f"{name} has {len(s)} logits but s_real has {n} (one per pair of the batch)")
    return s


def _bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def d_loss(s_real: torch.Tensor, s_fake: torch.Tensor, s_wrong: torch.Tensor | None = None) -> torch.Tensor:
    """The discriminator's loss from its logits.

    Plain conditional GAN (``s_wrong=None``): log D(real image, right text) + log(1 - D(fake, right text)).
    GAN-CLS (Reed et al., Algorithm 1): a real image with the *wrong* text is a third case, also
    labelled fake; the two "fake" cases share the weight of one: BCE(s_real, 1) +
    [BCE(s_wrong, 0) + BCE(s_fake, 0)] / 2. Logits (B,) each; the mean over the batch.
    """
    s_real = _check_logits(s_real, "s_real")
    s_fake = _check_logits(s_fake, "s_fake", len(s_real))
    if s_wrong is None:
        return _bce(s_real, 1.0) + _bce(s_fake, 0.0)
    s_wrong = _check_logits(s_wrong, "s_wrong", len(s_real))
    return _bce(s_real, 1.0) + (_bce(s_wrong, 0.0) + _bce(s_fake, 0.0)) / 2


def g_loss(s_fake: torch.Tensor) -> torch.Tensor:
    """The generator's non-saturating loss: -log D(fake, text), i.e. BCE(s_fake, 1)."""
    return _bce(_check_logits(s_fake, "s_fake"), 1.0)


# --------------------------------------------------------------------------------- data

class TextImageBatches:
    """Batches for ``train_gan``: (images (B, 3, H, W) in [-1, 1], text (B, E), wrong_text (B, E)).

    ``images_u8`` (N, 3, H, W) uint8 scenes; ``text`` (N, k, E): k caption embeddings of each
    scene (one is drawn per scene and step); ``attributes`` (N, A) long: each scene's attribute
    ids (e.g. colour, shape), used to choose the *wrong* text of GAN-CLS: a caption of another
    scene whose attributes differ in exactly one place (the same colour, another shape; or the
    same shape, another colour) where such a scene exists, any other attributes otherwise. A
    random wrong caption mostly differs in colour, which the discriminator can check alone;
    one-attribute mismatches make it check each attribute. One pass = N // batch_size
    batches, a new shuffle every pass.
    """

    def __init__(self, images_u8: torch.Tensor, text: torch.Tensor, attributes: torch.Tensor, batch_size: int = 32,
                 seed: int = 0):
        self.images = checks.tensor(images_u8, "images_u8", ndim=4, nonempty=True)
        if self.images.dtype != torch.uint8:
            raise ValueError(f"images_u8 must be uint8 images (N, 3, H, W), got dtype {self.images.dtype}")
        self.text = checks.tensor(text, "text", dtype="float", ndim=3)
        self.attributes = checks.tensor(attributes, "attributes", ndim=2)
        n = len(self.images)
        if len(self.text) != n or len(self.attributes) != n:
            raise ValueError(f"images_u8, text and attributes need one row per scene: got {n}, {len(self.text)} "
                             f"and {len(self.attributes)}")
        self.batch_size = checks.integer(batch_size, "batch_size", low=2, high=n)
        self.g = torch.Generator().manual_seed(checks.seed(seed))
        keys = [tuple(a) for a in self.attributes.tolist()]
        self._by_key: dict[tuple, list[int]] = {}
        for i, key in enumerate(keys):
            self._by_key.setdefault(key, []).append(i)
        self._keys = keys
        # for every scene: the scenes that differ from it in exactly one attribute
        groups = list(self._by_key)
        self._near = {key: [i for other in groups if sum(a != b for a, b in zip(key, other)) == 1
                            for i in self._by_key[other]] for key in groups}
        self._far = {key: [i for other in groups if other != key for i in self._by_key[other]] for key in groups}

    def __len__(self) -> int:
        return len(self.images) // self.batch_size

    def wrong_for(self, index: int) -> int:
        """A scene whose attributes differ from scene ``index``'s in one place (or more, if none does)."""
        key = self._keys[index]
        pool = self._near[key] or self._far[key]
        if not pool:
            raise ValueError("every scene has the same attributes: there is no wrong text to show")
        return pool[int(torch.randint(len(pool), (1,), generator=self.g))]

    def __iter__(self):
        n, b, k = len(self.images), self.batch_size, self.text.shape[1]
        order = torch.randperm(n, generator=self.g)
        for start in range(0, len(self) * b, b):
            idx = order[start:start + b]
            wrong = torch.tensor([self.wrong_for(i) for i in idx.tolist()])
            pick, pick_w = torch.randint(k, (b,), generator=self.g), torch.randint(k, (b,), generator=self.g)
            yield from_unit(self.images[idx]), self.text[idx, pick], self.text[wrong, pick_w]


# --------------------------------------------------------------------------------- training

def train_gan(G: Generator, D: Discriminator, batches, *, steps: int, method: str = "gan-cls", lr: float = 2e-4,
              lr_d: float | None = None, betas=(0.5, 0.999), int_beta: float = 0.5, ema: float | None = None,
              device=None, amp: bool = True, seed: int = 0, progress: bool = True, desc: str | None = None,
              log_every: int = 1, pixel_weight: float = 0.0, mode_seeking: float = 0.0) -> dict:
    """Train G and D against each other for ``steps`` steps; returns a history of lists.

    ``batches``: an iterable (re-iterated as needed) of (images (B, 3, 32, 32) in [-1, 1],
    text (B, text_dim), wrong_text (B, text_dim)); ``wrong_text`` is used by the GAN-CLS methods
    only. Each step: one D update on the batch, then one G update on fresh noise.
    ``method``: "cgan" (real/fake only), "gan-cls" (+ real image with wrong text), "gan-cls+int"
    (+ the G loss on interpolated embeddings int_beta * t + (1 - int_beta) * t', where t' is the
    text of another image in the batch). ``amp``: mixed precision, used on CUDA only.
    ``pixel_weight``: adds that many times the squared error between G's pictures and the
    batch's real pictures to G's loss (the regression loss; 0, the default, is the plain game).
    ``mode_seeking``: the mode-seeking term of MSGAN (Mao et al., 2019) against mode collapse:
    half of G's batch repeats the other half's texts with other noise, and G pays
    ``mode_seeking`` / (mean image distance / mean noise distance) of those pairs.
    History keys: step, d_loss, g_loss, d_real, d_fake, d_wrong (mean D probabilities).
    """
    checks.choice(method, "method", METHODS)
    steps = checks.integer(steps, "steps", low=1)
    lr = checks.number(lr, "lr", low=0.0, low_open=True)
    int_beta = checks.number(int_beta, "int_beta", low=0.0, high=1.0)
    pixel_weight = checks.number(pixel_weight, "pixel_weight", low=0.0)
    mode_seeking = checks.number(mode_seeking, "mode_seeking", low=0.0)
    if G.z_dim == 0:
        raise ValueError("the generator has no noise input (z_dim=0): a GAN needs z_dim >= 1")
    device = torch.device(device) if device is not None else next(G.parameters()).device
    G.to(device).train()
    D.to(device).train()
    opt_g = torch.optim.Adam(G.parameters(), lr=lr, betas=betas)
    opt_d = torch.optim.Adam(D.parameters(), lr=lr if lr_d is None else lr_d, betas=betas)
    avg = None if not ema else [p.detach().clone() for p in G.parameters()]
    use_amp = bool(amp) and device.type == "cuda"
    scaler_g = torch.amp.GradScaler("cuda", enabled=use_amp)
    scaler_d = torch.amp.GradScaler("cuda", enabled=use_amp)
    gen = torch.Generator().manual_seed(checks.seed(seed))
    cls, use_int = method != "cgan", method == "gan-cls+int"
    hist = {k: [] for k in ("step", "d_loss", "g_loss", "d_real", "d_fake", "d_wrong")}
    desc = desc or method
    started, step = time.perf_counter(), 0
    report = max(1, steps // 5)
    while step < steps:
        n_before = step
        for images, text, wrong in batches:
            images, text, wrong = (t.to(device, non_blocking=True) for t in (images, text, wrong))
            _check_images(images, "images", G.image_size)
            _check_text(text, "text", G.text_dim, batch=images.shape[0])
            _check_text(wrong, "wrong_text", G.text_dim, batch=images.shape[0])
            b = images.shape[0]
            # ---- discriminator: real/right -> 1, fake/right -> 0 (and real/wrong -> 0 for GAN-CLS)
            z = torch.randn(b, G.z_dim, generator=gen).to(device)
            with torch.autocast(device_type=device.type, enabled=use_amp):
                with torch.no_grad():
                    fake = G(z, text)
                feats = D.features(images)
                s_real = D.score(feats, text)
                s_wrong = D.score(feats, wrong) if cls else None  # same image features, other text
                s_fake = D(fake, text)
                loss_d = d_loss(s_real.float(), s_fake.float(), None if s_wrong is None else s_wrong.float())
            opt_d.zero_grad(set_to_none=True)
            scaler_d.scale(loss_d).backward()
            scaler_d.step(opt_d)
            scaler_d.update()
            # ---- generator: make D call its images real for their text
            z = torch.randn(b, G.z_dim, generator=gen).to(device)
            with torch.autocast(device_type=device.type, enabled=use_amp):
                if mode_seeking:  # the first half's texts twice, with different noise (MSGAN)
                    h = b // 2
                    text_g = torch.cat([text[:h], text[:h], text[2 * h:]])
                    images_g = torch.cat([images[:h], images[:h], images[2 * h:]])
                else:
                    text_g, images_g = text, images
                gen_images = G(z, text_g)
                loss_g = g_loss(D(gen_images, text_g).float())
                if pixel_weight:  # the regression loss against the batch's real pictures, as a leash
                    loss_g = loss_g + pixel_weight * F.mse_loss(gen_images.float(), images_g.float())
                if mode_seeking:  # Mao et al. 2019: two noises for one text must give two pictures
                    apart = (gen_images[:h] - gen_images[h:2 * h]).abs().mean((1, 2, 3)).float()
                    noise_apart = (z[:h] - z[h:2 * h]).abs().mean(1).float()
                    loss_g = loss_g + mode_seeking / ((apart / noise_apart).mean() + 1e-5)
                if use_int:  # GAN-INT: no real image for t_int, only D's verdict
                    other = text[torch.randperm(b, generator=gen).to(device)]
                    t_int = int_beta * text + (1 - int_beta) * other
                    z2 = torch.randn(b, G.z_dim, generator=gen).to(device)
                    loss_g = loss_g + g_loss(D(G(z2, t_int), t_int).float())
            if not (torch.isfinite(loss_d) and torch.isfinite(loss_g)):
                raise FloatingPointError(f"{desc}: a loss became NaN/inf at step {step}; lower the learning rate")
            opt_g.zero_grad(set_to_none=True)
            scaler_g.scale(loss_g).backward()
            scaler_g.step(opt_g)
            scaler_g.update()
            if avg is not None:
                with torch.no_grad():
                    for a, p in zip(avg, G.parameters()):
                        a.lerp_(p.detach(), 1 - ema)
            step += 1
            if step % log_every == 0 or step == steps:
                with torch.no_grad():
                    hist["step"].append(step)
                    hist["d_loss"].append(loss_d.item())
                    hist["g_loss"].append(loss_g.item())
                    hist["d_real"].append(torch.sigmoid(s_real.float()).mean().item())
                    hist["d_fake"].append(torch.sigmoid(s_fake.float()).mean().item())
                    hist["d_wrong"].append(torch.sigmoid(s_wrong.float()).mean().item() if cls else float("nan"))
            if progress and (step % report == 0 or step == steps):
                print(f"{desc}: step {step}/{steps}  D loss {loss_d.item():.3f}  G loss {loss_g.item():.3f}  "
                      f"({time.perf_counter() - started:.0f} s){'  done' if step == steps else ''}", flush=True)
            if step >= steps:
                break
        if step == n_before:
            raise ValueError("the batches iterable is empty; nothing to train on")
    if avg is not None:  # the moving average of G's weights, with BN statistics measured for them
        with torch.no_grad():
            for a, p in zip(avg, G.parameters()):
                p.copy_(a)
            for m in G.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.reset_running_stats()
                    m.momentum = None  # a plain average over the passes below
            for _images, text, _wrong in itertools.islice(batches, 20):
                G(torch.randn(len(text), G.z_dim, generator=gen).to(device), text.to(device))
            for m in G.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.momentum = 0.1
    G.eval()
    D.eval()
    return hist


# --------------------------------------------------------------------------------- sampling and measures

def _check_pair(a, b):
    a = checks.tensor(a, "a", dtype="float", ndim=1, nonempty=True)
    b = checks.tensor(b, "b", dtype="float", ndim=1, nonempty=True)
    if a.shape != b.shape:
        raise ValueError(f"a and b must be two vectors of one length, got {tuple(a.shape)} and {tuple(b.shape)}")
    return a, b


def lerp(a: torch.Tensor, b: torch.Tensor, steps: int) -> torch.Tensor:
    """``steps`` points on the straight line from a to b (both (D,)): (steps, D), ends included."""
    a, b = _check_pair(a, b)
    steps = checks.integer(steps, "steps", low=2)
    t = torch.linspace(0, 1, steps, dtype=a.dtype, device=a.device)[:, None]
    return (1 - t) * a + t * b


def slerp(a: torch.Tensor, b: torch.Tensor, steps: int) -> torch.Tensor:
    """Spherical interpolation from a to b (both (D,)): (steps, D), ends included.

    Gaussian noise vectors live near a sphere of radius sqrt(D); the straight line between two
    of them passes closer to the origin than any likely sample, the great circle does not:
    slerp(t) = sin((1 - t) w) / sin(w) a + sin(t w) / sin(w) b, with w the angle between a and b
    (a straight line when they are parallel)."""
    a, b = _check_pair(a, b)
    steps = checks.integer(steps, "steps", low=2)
    t = torch.linspace(0, 1, steps, dtype=a.dtype, device=a.device)[:, None]
    cos = (F.normalize(a, dim=0) @ F.normalize(b, dim=0)).clamp(-1, 1)
    omega = torch.arccos(cos)
    if omega.abs() < 1e-4:
        return (1 - t) * a + t * b
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


@torch.no_grad()
def generate(G: Generator, text_emb: torch.Tensor, z: torch.Tensor | None = None, *, generator=None,
             batch_size: int = 512, device=None) -> torch.Tensor:
    """Images (N, 3, 32, 32) in [0, 1] on the CPU for N text embeddings (fresh noise unless z is given)."""
    text_emb = _check_text(text_emb, "text_emb", G.text_dim)
    if z is None and G.z_dim:
        z = torch.randn(len(text_emb), G.z_dim, generator=generator)
    if z is not None and G.z_dim and z.shape != (len(text_emb), G.z_dim):
        raise ValueError(f"z must be ({len(text_emb)}, {G.z_dim}), got {tuple(z.shape)}")
    device = torch.device(device) if device is not None else next(G.parameters()).device
    was = G.training
    G.eval()
    out = []
    for i in range(0, len(text_emb), batch_size):
        zi = None if not G.z_dim else z[i:i + batch_size].to(device)
        out.append(to_unit(G(zi, text_emb[i:i + batch_size].to(device))).float().cpu())
    G.train(was)
    return torch.cat(out) if out else torch.zeros(0, 3, G.image_size, G.image_size)


def pairwise_distance(images: torch.Tensor) -> torch.Tensor:
    """Mean RMS pixel difference over all pairs of distinct images of a set (N, C, H, W), N >= 2:
    sqrt(mean over pixels and channels of (x_i - x_j)^2), averaged over the N (N - 1) / 2 pairs."""
    images = checks.tensor(images, "images", dtype="float")
    if images.ndim != 4 or len(images) < 2:
        raise ValueError(f"images must be (N, C, H, W) with N >= 2, got shape {tuple(images.shape)}")
    flat = images.flatten(1)
    d = torch.cdist(flat.double(), flat.double()) / flat.shape[1] ** 0.5  # (N, N) RMS differences
    i, j = torch.triu_indices(len(flat), len(flat), offset=1)
    return d[i, j].mean().float()


def diversity(groups: torch.Tensor) -> torch.Tensor:
    """Mean pairwise distance within each group of images: (G, N, C, H, W) -> (G,)."""
    groups = checks.tensor(groups, "groups", dtype="float")
    if groups.ndim != 5:
        raise ValueError(f"groups must be (G, N, C, H, W), got shape {tuple(groups.shape)}")
    return torch.stack([pairwise_distance(g) for g in groups])


def sharpness(images: torch.Tensor, k: int = 16) -> torch.Tensor:
    """How steep an image's edges are: the mean of its ``k`` largest jumps between neighbouring
    pixels (horizontal or vertical, averaged over the colour channels), one number per image (N,).
    A crisp edge is one big jump; blur spreads it over several small ones (the total change
    stays the same, so the *mean* jump could not tell them apart). Images (N, C, H, W) in [0, 1]."""
    images = checks.tensor(images, "images", dtype="float")
    if images.ndim != 4 or images.shape[-1] < 2 or images.shape[-2] < 2:
        raise ValueError(f"images must be (N, C, H, W) with H, W >= 2, got shape {tuple(images.shape)}")
    k = checks.integer(k, "k", low=1)
    dx = (images[..., :, 1:] - images[..., :, :-1]).abs().mean(1).flatten(1)
    dy = (images[..., 1:, :] - images[..., :-1, :]).abs().mean(1).flatten(1)
    jumps = torch.cat([dx, dy], dim=1)
    return jumps.topk(min(k, jumps.shape[1]), dim=1).values.mean(1)


# --------------------------------------------------------------------------------- CLIP-guided edit

def edit_loss(image_emb: torch.Tensor, target_emb: torch.Tensor, latent: torch.Tensor, start: torch.Tensor,
              weight: float) -> torch.Tensor:
    """StyleCLIP's latent-optimisation objective, per batch (mean over it):
    (1 - cos(image embedding, target text embedding)) + weight * ||latent - start||^2 / dim.
    image_emb, target_emb: (B, E); latent, start: (B, L)."""
    image_emb = checks.tensor(image_emb, "image_emb", dtype="float", ndim=2, nonempty=True)
    target_emb = checks.tensor(target_emb, "target_emb", dtype="float", ndim=2, nonempty=True)
    latent = checks.tensor(latent, "latent", dtype="float", ndim=2, nonempty=True)
    start = checks.tensor(start, "start", dtype="float", ndim=2, nonempty=True)
    weight = checks.number(weight, "weight", low=0.0)
    if image_emb.shape != target_emb.shape:
        raise ValueError(f"image_emb and target_emb must both be (B, E), got {tuple(image_emb.shape)} "
                         f"and {tuple(target_emb.shape)}")
    if latent.shape != start.shape or latent.shape[0] != image_emb.shape[0]:
        raise ValueError(f"latent and start must both be (B, L) with B = {image_emb.shape[0]}, got "
                         f"{tuple(latent.shape)} and {tuple(start.shape)}")
    cos = F.cosine_similarity(image_emb, target_emb, dim=-1)
    return ((1 - cos) + weight * (latent - start).pow(2).mean(-1)).mean()


def edit_latent(G: Generator, encode_image, z: torch.Tensor, code: torch.Tensor, target_emb: torch.Tensor, *,
                steps: int = 100, lr: float = 0.05, weight: float = 1.0, device=None) -> dict:
    """Optimise the latent codes (z, text code) of B generated images so ``encode_image`` (images in
    [0, 1] -> (B, E)) finds them closer to ``target_emb`` (B, E), with ``weight`` times the squared
    distance from the start as a penalty. G's weights and the image-text model stay fixed.

    Returns {"z", "code": the edited codes (CPU), "images": edited images in [0, 1] (CPU),
    "similarity": per-step mean cosine to the target, "distance": per-step mean squared distance}.
    """
    steps = checks.integer(steps, "steps", low=1)
    lr = checks.number(lr, "lr", low=0.0, low_open=True)
    weight = checks.number(weight, "weight", low=0.0)
    device = torch.device(device) if device is not None else next(G.parameters()).device
    code = checks.tensor(code, "code", dtype="float")
    if code.ndim != 2 or code.shape[1] != G.code_dim:
        raise ValueError(f"code must be (B, {G.code_dim}), got shape {tuple(code.shape)}")
    if z is None or z.shape != (code.shape[0], G.z_dim):
        raise ValueError(f"z must be ({code.shape[0]}, {G.z_dim}), got {None if z is None else tuple(z.shape)}")
    if target_emb.ndim != 2 or target_emb.shape[0] != code.shape[0]:
        raise ValueError(f"target_emb must be (B, E) with B = {code.shape[0]}, got {tuple(target_emb.shape)}")
    was = G.training
    G.eval()
    for p in G.parameters():
        p.requires_grad_(False)
    start = torch.cat([z, code], dim=1).to(device)
    latent = start.clone().requires_grad_(True)
    target = target_emb.to(device)
    opt = torch.optim.Adam([latent], lr=lr)
    sims, dists = [], []
    try:
        for _ in range(steps):
            images = to_unit(G.from_code(latent[:, :G.z_dim], latent[:, G.z_dim:]))
            emb = encode_image(images)
            loss = edit_loss(emb, target, latent, start, weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():
                sims.append(F.cosine_similarity(emb, target, dim=-1).mean().item())
                dists.append((latent - start).pow(2).mean().item())
        with torch.no_grad():
            images = to_unit(G.from_code(latent[:, :G.z_dim], latent[:, G.z_dim:]))
    finally:
        for p in G.parameters():
            p.requires_grad_(True)
        G.train(was)
    latent = latent.detach().cpu()
    return {"z": latent[:, :G.z_dim], "code": latent[:, G.z_dim:], "images": images.float().cpu(),
            "similarity": sims, "distance": dists}
