import pytest
import torch

from mmcourse.train import fit, load_checkpoint, save_checkpoint


def toy_batches(n=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n * 16, 3, generator=g)
    y = x @ torch.tensor([1.0, -2.0, 0.5]) + 0.3
    return [(x[i:i + 16], y[i:i + 16]) for i in range(0, len(x), 16)]


def mse(model, batch):
    x, y = batch
    return torch.nn.functional.mse_loss(model(x).squeeze(-1), y)


def test_fit_learns_and_records_history():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    hist = fit(model, toy_batches(), mse, lr=0.05, epochs=30, progress=False,
               eval_fn=lambda m: {"w0": m.weight[0, 0].item()}, eval_every=50)
    assert len(hist["loss"]) == 8 * 30 and hist["step"][-1] == 240
    assert hist["loss"][-1] < 0.01 < hist["loss"][0]
    assert hist["eval_step"][-1] == 240 and abs(hist.last("w0") - 1.0) < 0.05
    assert not model.training


def test_max_steps_cycles_through_epochs():
    hist = fit(torch.nn.Linear(3, 1), toy_batches(n=2), mse, max_steps=5, progress=False)
    assert hist["step"] == [1, 2, 3, 4, 5]


def test_dict_losses_and_clipping():
    model = torch.nn.Linear(3, 1)

    def loss_fn(m, batch):
        loss = mse(m, batch)
        return {"loss": loss, "half": loss / 2}

    hist = fit(model, toy_batches(), loss_fn, epochs=1, clip_grad=0.1, progress=False)
    assert hist["half"][0] == pytest.approx(hist["loss"][0] / 2)


def test_bad_arguments_are_clear():
    model = torch.nn.Linear(3, 1)
    with pytest.raises(ValueError, match="empty"):
        fit(model, [], mse, progress=False)
    with pytest.raises(ValueError, match="max_steps"):
        fit(model, toy_batches(), mse, max_steps=0, progress=False)
    with pytest.raises(FloatingPointError, match="learning rate"):
        fit(model, toy_batches(), lambda m, b: mse(m, b) * float("inf"), progress=False)


def test_checkpoint_round_trip(tmp_path):
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters())
    fit(model, toy_batches(), lambda m, b: m(b[0]).pow(2).mean(), optimizer=opt, progress=False)
    path = save_checkpoint(tmp_path / "ck" / "m.pt", model, opt, epoch=3, note="hi")
    other = torch.nn.Linear(3, 2)
    other_opt = torch.optim.Adam(other.parameters())
    meta = load_checkpoint(path, other, other_opt)
    assert meta == {"epoch": 3, "note": "hi"}
    for a, b in zip(model.parameters(), other.parameters()):
        assert torch.equal(a, b)
    with pytest.raises(TypeError, match="metadata"):
        save_checkpoint(tmp_path / "bad.pt", model, extra=object())
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pt", other)


def test_checkpoint_refuses_pickled_objects(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"model": {}, "meta": {"obj": object()}}, path)
    with pytest.raises(Exception, match="[Ww]eights only"):
        load_checkpoint(path, torch.nn.Linear(1, 1))


def test_fit_steps_a_scheduler_after_each_optimiser_step():
    import warnings

    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0 / (1 + step))
    batches = [(torch.randn(4, 2), torch.randn(4, 1))] * 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "scheduler stepped before optimizer" warning
        fit(model, batches, lambda m, b: ((m(b[0]) - b[1]) ** 2).mean(), optimizer=opt, scheduler=sched,
            epochs=1, progress=False)
    assert sched.last_epoch == 3 and opt.param_groups[0]["lr"] == 0.25


def test_checkpoint_arguments_are_checked_before_anything_is_written_or_loaded(tmp_path):
    model = torch.nn.Linear(3, 2)
    path = save_checkpoint(tmp_path / "m.pt", model, torch.optim.SGD(model.parameters(), lr=0.1))
    for bad, name in ((None, "path"), (3, "path"), (b"m.pt", "path")):
        with pytest.raises(TypeError, match=name):
            save_checkpoint(bad, model)
    with pytest.raises(ValueError, match="path is empty"):
        save_checkpoint("", model)
    with pytest.raises(IsADirectoryError, match="folder"):
        save_checkpoint(tmp_path, model)
    with pytest.raises(TypeError, match="model must be a torch.nn.Module, got str"):
        save_checkpoint(tmp_path / "x.pt", "model")
    with pytest.raises(TypeError, match="optimizer must be None or a torch.optim.Optimizer, got int"):
        save_checkpoint(tmp_path / "x.pt", model, optimizer=3)
    assert not (tmp_path / "x.pt").exists()
    # another architecture: a ValueError that says what differs, and the model is left as it was
    other = torch.nn.Sequential(torch.nn.Linear(3, 2))
    wider = torch.nn.Linear(3, 4)
    before = [p.clone() for p in wider.parameters()]
    with pytest.raises(ValueError, match=r"model does not match .*missing \['0.bias', '0.weight'\]"):
        load_checkpoint(path, other)
    with pytest.raises(ValueError, match=r"model does not match .*weight \(2, 3\) vs \(4, 3\)"):
        load_checkpoint(path, wider)
    assert all(torch.equal(a, b) for a, b in zip(before, wider.parameters()))
    two = torch.nn.Linear(3, 2)
    with pytest.raises(ValueError, match=r"optimizer does not match .*\[1\], the checkpoint's \[2\]"):
        load_checkpoint(path, two, torch.optim.SGD([two.weight], lr=0.1))
    with pytest.raises(TypeError, match="model must be a torch.nn.Module, got NoneType"):
        load_checkpoint(path, None)
    with pytest.raises(IsADirectoryError):
        load_checkpoint(tmp_path, model)


def test_batches_reshuffle_every_epoch_and_cover_the_data():
    from mmcourse.train import Batches

    x, y = torch.arange(10.0), {"a": torch.arange(10)}
    b = Batches((x, y), 4, seed=0)
    assert len(b) == 2
    first, second = [bx for bx, _ in b], [bx for bx, _ in b]
    assert all(len(t) == 4 for t in first)
    assert not all(torch.equal(p, q) for p, q in zip(first, second))  # a new order each pass
    for bx, by in Batches((x, y), 4, seed=0):
        assert torch.equal(bx.long(), by["a"])                        # rows stay together
    assert sorted(torch.cat(list(Batches(x, 3, seed=1, drop_last=False))).tolist()) == x.tolist()
    with pytest.raises(ValueError, match="same first dimension"):
        Batches((x, torch.arange(3)), 2)
    with pytest.raises(ValueError, match="no full batch"):
        Batches(x, 20)
    with pytest.raises(TypeError, match="tensor"):
        Batches([1, 2], 1)
