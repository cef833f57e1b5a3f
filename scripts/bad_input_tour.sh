#!/bin/bash
# The bad-input tour: commands a new user might type wrong, each run as the real command in a
# fresh folder; every one must end with one line on stderr, exit code 2, no traceback, and leave
# nothing behind (the last line lists the folder: only data/ and victim/, made here, may remain).
#   PATH=$PWD/.venv/bin:$PATH bash scripts/bad_input_tour.sh     (about 3 minutes: 61 commands)
N=${NNLAB:-nnlab}
PY=${PYTHON:-python}
cd "$(mktemp -d)"
$PY - <<'PY'
from pathlib import Path
from nnlab.data.formats import write_idx_dataset
write_idx_dataset(Path("data/MNIST/raw"), n_train=300, n_test=100)
PY
export NNLAB_DATA=$PWD/data
$N train dataset=mnist dataset.val_size=50 epochs=1 hydra.run.dir=victim progress=false >/dev/null 2>&1
while IFS= read -r line; do
  [ -z "$line" ] && continue
  out=$(eval "$N $line" 2>&1 >/dev/null); rc=$?
  tb=$(echo "$out" | grep -c Traceback)
  echo "rc=$rc lines=$(echo "$out" | grep -c .) tb=$tb | nnlab $line"
  echo "    $(echo "$out" | tail -1 | cut -c1-230)"
done <<'LIST'
train dataset=fashion_mnist dataset.val_size=-1
train dataset=fashion_mnist dataset.val_size=abc
train scheduler=step scheduler.step_size=0
train scheduler=exponential scheduler.gamma=0
train scheduler=cosine scheduler.T_max=-3
train optimizer=sgd optimizer.nesterov=yes
train optimizer=sgd optimizer.nesterov=true
train optimizer=adam 'optimizer.betas=[0.9,1.5]'
train optimizer=adadelta optimizer.rho=2
train optimizer=rmsprop optimizer.alpha=-1
train optimizer.lr=0
train logger=mlflow logger.tracking_uri=htp://localhost:5000
train logger=mlflow logger.experiment=''
attack run=victim track=maybe
train optimizer.weight_decay=-1
train optimizer.learning_rate=0.01
train lr=0.1
train epoch=5
train epochs=0
train batch_size=abc
train seed=-1
train device=tpu
train cpu_threads=0
train progress=yes
train loss=l2
train l1=-1
train model=nope
train model.activation=Relu
train model.hidden=[0]
train model.dropout=1.5
train model=deep model.init=glorot
train model=lenet model.pooling=min
train dataset=spiral dataset.noise=0.9
train dataset=spiral dataset.features=[x3]
train dataset=spiral dataset.train_fraction=1.5
train probe=[boundry]
train experiment=cifar_ablation_hidden model=lenet
train experiment=nope
train early_stopping.patience=0
train early_stopping.monitor=val_accuracy
train adversarial=pgd adversarial.mix=0
train +model.foo=1
train resume=/nonexistent
train resume=victim epochs=1
train resume=victim optimizer.lr=0.5
attack
attack run=victim n=0
attack run=victim attack.eps=2
attack run=victim attack=pgd attack.norm=l3
attack run=victim target=99
attack run=victim split=dev
attack run=victim attack=targeted_sign
attack run=victim attack=pgd attack.targeted=true
attack run=victim attack=generator
attack run=victim attack=ifgsm target=random
attack run=victim attack=pgd target=random attack.targeted=false
train -m hydra/launcher=vectorized hydra.launcher.max_models=0 seed=0,1
attack run=no_such_run
report no_such_folder
report victim --metric accuracy
report victim --aggregate seed
LIST
echo "folders left: $(ls | tr '\n' ' ')"
ls outputs 2>/dev/null && echo "outputs/ was left behind"
