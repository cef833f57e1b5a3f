"""Adversarial attacks on nnlab models (pixels in [0, 1], normalisation inside the model).

    attack = PGD(eps=8/255, alpha=2/255, steps=10)          # or instantiate(cfg.attack)
    result = attack(model, x, y)                             # untargeted
    result = PGD(eps=0.03, alpha=0.01, steps=20, targeted=True)(model, x, y, target=t)
    result.adversarial, result.steps, result.success
    attack = GeneratorAttack(eps=0.3); attack.fit(model, x_train, y_train, targets=[3])  # trained f
"""

from nnlab.attacks.base import Attack, AttackResult, margin, margin_loss
from nnlab.attacks.cw import CarliniWagnerL2
from nnlab.attacks.deepfool import DeepFool
from nnlab.attacks.generator import GeneratorAttack
from nnlab.attacks.gradient import FGSM, IFGSM, PGD, TargetedSign
from nnlab.attacks.targets import least_likely_targets, random_other_targets

__all__ = ["Attack", "AttackResult", "CarliniWagnerL2", "DeepFool", "FGSM", "GeneratorAttack", "IFGSM",
           "PGD", "TargetedSign", "least_likely_targets", "margin", "margin_loss", "random_other_targets"]
