"""Many models, one pass: M models of one architecture trained as one stacked model.

The parameters of M models with the same names, shapes and forward code are stacked along a
leading model dimension (torch.func.stack_module_state); one vmapped functional_call runs the M
forward passes at once on [M, B, ...] batches, each model on the batch its own data order gives
it. Summing the per-model losses gives each model its own gradient (nothing reduces across
models), so each model follows the trajectory it would have had alone, up to float rounding:

- one optimizer of the models' kind steps the whole stack at lr 1 without decay; each model's
  slice of that step is then scaled by its own learning rate (the steps of SGD with momentum or
  Nesterov, Adam, RMSprop and Adadelta are linear in the rate), and its L2 decay is added to its
  gradient as torch does (AdamW: decoupled, to the weights);
- each job keeps its own optimizer as a throwaway: its scheduler steps it, and its rate is the
  model's rate for the next epoch; its state_dict, filled with the model's slice of the stack's
  optimizer state, is what the job's checkpoints hold (so `resume=` continues the job alone);
- a model that diverges or stops is frozen: its slice is not changed again (torch.where, so a
  NaN in one model cannot reach the others).

Every job's own module views its slice of the stack (param.data = stacked[i]): probes, figures
and checkpoints see the live weights without copies.

Dropout masks are drawn per model (vmap randomness="different") and cannot equal a solo run's.
BatchNorm (running statistics updated in place) and per-batch augmentation are not stacked:
train/group.py runs those jobs alone.
"""

from __future__ import annotations

import copy
import inspect
import warnings

import torch
from torch.func import functional_call, stack_module_state, vmap

from nnlab.data.dataset import pixels
from nnlab.train.engine import Batches, Diverged, EpochResult, Learner, per_model


class StackedTrainer:
    """The trainer of `engine.train_models` for M models trained as one (see the module doc)."""

    def __init__(self, learners: list[Learner], l1: list[float], loss_fn, batches: list[Batches],
                 device: torch.device):
        self.size = len(learners)
        self.learners, self.loss_fn, self.device = learners, loss_fn, torch.device(device)
        models = [learner.model for learner in learners]
        self.params, self.buffers = stack_module_state(models)
        self.base = copy.deepcopy(models[0]).to("meta")  # the forward code, without weights
        for index, model in enumerate(models):
            _view_slice(model, self.params, self.buffers, index)

        first = learners[0].optimizer
        accepted = inspect.signature(type(first)).parameters  # AdamW's defaults name more
        hyper = {k: v for k, v in first.defaults.items()
                 if k in accepted and k not in ("lr", "weight_decay")}
        self.optimizer = type(first)(list(self.params.values()), lr=1.0, weight_decay=0.0, **hyper)
        self._continue_optimizer_states()
        self.decoupled = isinstance(first, torch.optim.AdamW) or bool(
            first.defaults.get("decoupled_weight_decay", False))
        self.decay = self._per_model([opt.param_groups[0]["weight_decay"] for opt in self.optimizers])
        self.l1 = self._per_model(l1)
        self.any_l1 = any(l1)

        self._lrs = None  # the jobs' rates, until a schedule moves them (lrs)
        self.alive = torch.ones(self.size, dtype=torch.bool, device=self.device)  # still training
        self.retired: set[int] = set()
        self.train_split = _StackedSplit([b.train for b in batches])
        self.eval_splits = {name: _StackedSplit([b.evaluate[name] for b in batches])
                            for name in batches[0].evaluate}
        self.batch_size = batches[0].train.batch_size
        self.steps_per_epoch = len(batches[0].train)

        def losses(params, buffers, x, y):
            logits = functional_call(self.base, (params, buffers), (x,))
            return loss_fn(logits, y), logits

        def forward(params, buffers, x):
            return functional_call(self.base, (params, buffers), (x,))

        self._train = vmap(losses, in_dims=(0, 0, 0, 0), randomness="different")
        self._forward = {True: vmap(forward, in_dims=(0, 0, None), randomness="different"),
                         False: vmap(forward, in_dims=(0, 0, 0), randomness="different")}
        self._loss = {True: vmap(loss_fn, in_dims=(0, None)), False: vmap(loss_fn, in_dims=(0, 0))}

    @property
    def optimizers(self) -> list[torch.optim.Optimizer]:
        return [learner.optimizer for learner in self.learners]

    def _per_model(self, values) -> torch.Tensor:
        return torch.tensor([float(v) for v in values], device=self.device)

    # --- what train_models asks ----------------------------------------------------------------

    def lrs(self) -> torch.Tensor:
        """[M] float64: each job's rate, read from its own optimizer when its schedule moved it."""
        if self._lrs is None:
            self._lrs = per_model([opt.param_groups[0]["lr"] for opt in self.optimizers])
        return self._lrs

    def train_epoch(self, epoch: int, step_guard, bar) -> EpochResult:
        self.base.train()
        lr = self.lrs().to(self.device, torch.float32)
        orders = self.train_split.epoch_orders()
        step_losses = torch.zeros(self.steps_per_epoch, self.size, device=self.device)
        loss_sum = torch.zeros(self.size, device=self.device)
        correct = torch.zeros(self.size, device=self.device)
        seen = 0
        for step in range(self.steps_per_epoch):
            x, y = self.train_split.rows(orders[:, step * self.batch_size:(step + 1) * self.batch_size])
            with step_guard():
                data_loss, logits = self._train(self.params, self.buffers, x, y)
                loss = data_loss + self.l1 * self._penalty() if self.any_l1 else data_loss
                self.optimizer.zero_grad(set_to_none=True)
                loss.sum().backward()
                self._step(lr, torch.isfinite(loss.detach()))
            step_losses[step] = loss.detach()
            loss_sum += data_loss.detach() * y.shape[1]
            correct += (logits.argmax(-1) == y).sum(-1)
            seen += y.shape[1]
            if bar is not None:
                bar.update(1)
        return EpochResult(per_model(loss_sum / seen), per_model(correct / seen),
                           self._diverged(epoch, step_losses))

    @torch.no_grad()
    def evaluate(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        self.base.eval()
        out = {}
        for name, split in self.eval_splits.items():
            loss_sum = torch.zeros(self.size, device=self.device)
            correct = torch.zeros(self.size, device=self.device)
            for x, y, shared in split.chunks(self.size):
                logits = self._forward[shared](self.params, self.buffers, x)
                loss_sum += self._loss[shared](logits, y) * y.shape[-1]
                correct += (logits.argmax(-1) == y).sum(-1)
            out[name] = (per_model(loss_sum / split.n), per_model(correct / split.n))
        return out

    def schedule(self) -> None:
        with warnings.catch_warnings():
            # the throwaway optimizers never step: torch would warn that the schedule runs first
            warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler.step\(\)`")
            for index, learner in enumerate(self.learners):
                if learner.scheduler is not None and index not in self.retired:
                    learner.scheduler.step()
                    self._lrs = None  # read again

    def retire(self, index: int) -> None:
        self.retired.add(index)
        self.alive[index] = False

    # --- what the job's checkpoints hold -------------------------------------------------------

    def saved_state(self, index: int, params: dict | None = None, states: dict | None = None) -> dict:
        """Model `index`'s weights and optimizer state, shaped as a run of its own saves them:
        from the live stack, or from stacked copies (`params`: name -> [M, ...]; `states`:
        position -> the optimizer's state; group_checkpoints keeps each job's best so)."""
        model = {k: v.clone() for k, v in self.learners[index].model.state_dict().items()}
        if params is not None:
            model.update({k: params[k][index].clone() for k in model if k in params})
        optimizer = self.optimizers[index].state_dict()  # the job's rates and decay, no state
        optimizer["state"] = {}
        for position, param in enumerate(self.params.values()):
            state = self.optimizer.state.get(param) if states is None else states.get(position)
            if state:
                optimizer["state"][position] = {k: self._slice(v, param, index) for k, v in state.items()}
        return {"model": model, "optimizer": optimizer}

    def _continue_optimizer_states(self) -> None:
        """Jobs that continue from a checkpoint (a sweep continued with skip_completed) hold their
        optimizer state, restored, in their own optimizers: stack it into the stack's optimizer,
        the inverse of `saved_state`. Fresh jobs hold none."""
        own = [[p for group in opt.param_groups for p in group["params"]] for opt in self.optimizers]
        for position, param in enumerate(self.params.values()):
            states = [opt.state.get(params[position]) for opt, params in zip(self.optimizers, own,
                                                                            strict=True)]
            if not any(states):
                continue
            if not all(states):
                raise ValueError("a stacked group mixes jobs with and without an optimizer state")
            self.optimizer.state[param] = {
                key: torch.stack([s[key] for s in states]).to(param.device)
                if torch.is_tensor(value) and value.shape == param.shape[1:] and key != "step" else value
                for key, value in states[0].items()}
        for opt in self.optimizers:
            opt.state.clear()  # the stack's optimizer holds it from here on (saved_state reads it there)

    def _slice(self, value, param: torch.Tensor, index: int):
        if torch.is_tensor(value):
            return value[index].clone() if value.shape == param.shape else value.clone()
        return value

    # --- inside ---------------------------------------------------------------------------------

    def _penalty(self) -> torch.Tensor:
        """Each model's sum of |w| over weight matrices and kernels (losses.l1_penalty, per model)."""
        return sum(p.abs().flatten(1).sum(1) for p in self.params.values() if p.dim() > 2)

    @torch.no_grad()
    def _step(self, lr: torch.Tensor, finite: torch.Tensor) -> None:
        """One optimizer step, each model's slice scaled by its rate; frozen models keep theirs."""
        self.alive &= finite  # on the device: no synchronisation per step
        params = list(self.params.values())
        if not self.decoupled and bool(self.decay.any()):
            for p in params:
                p.grad.add_(p * per_slice(self.decay, p))
        before = [p.detach().clone() for p in params]
        self.optimizer.step()
        for p, old in zip(params, before, strict=True):
            new = old + per_slice(lr, p) * (p - old)
            if self.decoupled:
                new -= per_slice(lr * self.decay, p) * old
            p.copy_(torch.where(per_slice(self.alive, p), new, old))

    def _diverged(self, epoch: int, step_losses: torch.Tensor) -> dict[int, Diverged]:
        """The models still training whose loss was NaN or infinite at some step of this epoch."""
        bad = ~torch.isfinite(step_losses)
        if not bool(bad.any()):
            return {}
        out = {}
        for index in bad.any(0).nonzero().flatten().tolist():
            if index in self.retired:
                continue
            step = int(bad[:, index].nonzero()[0])
            out[index] = Diverged(epoch, step + 1, float(step_losses[step, index]))
        return out


def per_slice(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """[M] -> [M, 1, 1, ...] on `like`'s device, to broadcast over each model's slice of a
    stacked tensor."""
    return values.to(like.device).view(-1, *([1] * (like.dim() - 1)))


def _view_slice(model: torch.nn.Module, params: dict, buffers: dict, index: int) -> None:
    """Make `model` view its slice of the stacked tensors (its own memory is released)."""
    for name, param in model.named_parameters():
        param.data = params[name].detach()[index]
    for name, _ in list(model.named_buffers()):
        owner, _, attr = name.rpartition(".")
        model.get_submodule(owner)._buffers[attr] = buffers[name][index]


class _StackedSplit:
    """One split as M models see it. The jobs' batchers hold one tensor per distinct dataset
    (jobs whose data differs, e.g. toy data seeded by each job's seed); these are concatenated,
    and each model reads its own rows through an offset. With one dataset, nothing is copied."""

    def __init__(self, batchers: list):
        first = batchers[0]
        self.batchers, self.n, self.resident = batchers, len(first.y), first.resident
        self.device = first.device
        distinct: dict[int, int] = {}  # id of a batcher's x -> its position among the distinct ones
        xs, ys, starts = [], [], []
        for batcher in batchers:
            if id(batcher.x) not in distinct:
                distinct[id(batcher.x)] = len(xs)
                xs.append(batcher.x)
                ys.append(batcher.y)
            starts.append(distinct[id(batcher.x)] * self.n)
        self.shared = len(xs) == 1
        self.x = xs[0] if self.shared else torch.cat(xs)
        self.y = ys[0] if self.shared else torch.cat(ys)
        self.offsets = torch.tensor(starts)[:, None]

    def epoch_orders(self) -> torch.Tensor:
        """[M, n]: each model's rows for this epoch, from each job's own generator."""
        orders = [b.epoch_order() for b in self.batchers]
        if orders[0] is None:
            order = torch.arange(self.n).expand(len(self.batchers), self.n)
        else:
            order = torch.stack(orders)
        return order + self.offsets

    def rows(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x [M, B, ...] and y [M, B] for the rows `index` [M, B]."""
        x = self.x[index.to(self.x.device)]
        y = self.y[index.to(self.y.device)]
        if not self.resident:  # uint8 in host memory: converted on the way to the device
            x = pixels(x.to(self.device, non_blocking=True))
        return x, y

    def chunks(self, models: int, elements: int = 1 << 24):
        """(x, y, shared) in unshuffled chunks for evaluation: one x [B, ...] for every model when
        the models share the data, else x [M, B, ...] of at most ~`elements` numbers."""
        batch = self.batchers[0].batch_size
        if not self.shared:
            per_row = models * max(1, self.x[0].numel())
            batch = max(1, min(batch, elements // per_row))
        for start in range(0, self.n, batch):
            stop = min(start + batch, self.n)
            if self.shared:
                x, y = self.x[start:stop], self.y[start:stop]
                if not self.resident:
                    x = pixels(x.to(self.device, non_blocking=True))
                yield x, y, True
            else:
                index = self.offsets + torch.arange(start, stop)[None, :]
                x, y = self.rows(index)
                yield x, y, False


def stackable(model: torch.nn.Module) -> str | None:
    """Why `model` cannot train in a stack, or None when it can."""
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            return "BatchNorm updates running statistics in place, which a stacked model cannot"
    return None

