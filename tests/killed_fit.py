"""A training that announces when it is inside epoch 3's visualization, to be SIGKILLed there.

    python -m tests.killed_fit LOGDIR

After the first record of epoch 3 (step 6: 2 steps an epoch) is handed to the writer it prints
"INSIDE 3" and sleeps, so the parent can kill it mid-visualization (some records of that step
written, others not).
"""

import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

from tb_featviz import AMOptions, FeatVizCallback  # noqa: E402
from tests.conftest import image_data, small_cnn  # noqa: E402


class Announcing(FeatVizCallback):
    made = 0

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        runners = self._prepared.runners
        for key, runner in runners.items():
            runners[key] = self._announcing(runner)

    def _announcing(self, runner):
        def run(progress=None):
            if self._clock.global_step == 6:
                self.made += 1
                if self.made == 2:  # the first record of step 3 is written, the others are not
                    print("INSIDE 3", flush=True)
                    time.sleep(600)
            return runner(progress)

        return run


if __name__ == "__main__":
    keras.utils.set_random_seed(0)
    model = small_cnn()
    x, y = image_data(32)
    model.compile("adam", "sparse_categorical_crossentropy")
    callback = Announcing(sys.argv[1], {"conv1": "all", "conv2": [0, 1]}, probe_images=x[:8],
                          am=AMOptions(steps=2), top_k=2, verbose=False)
    model.fit(x, y, epochs=6, batch_size=16, verbose=0, callbacks=[callback])
