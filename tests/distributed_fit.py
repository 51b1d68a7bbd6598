"""`fit` with FeatVizCallback under a tf.distribute strategy, as its own process.

    python -m tests.distributed_fit mirrored OUTDIR
    TF_CONFIG=... python -m tests.distributed_fit multiworker OUTDIR

Writes featviz records to OUTDIR/logs and the trained weights to OUTDIR/weights.npz, so the
test can recompute the visualizations in a single process from the same weights.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def main(kind: str, outdir: str) -> None:
    if kind == "mirrored":
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    else:
        strategy = tf.distribute.MultiWorkerMirroredStrategy()

    import keras

    from tb_featviz import AMOptions, FeatVizCallback
    from tests.conftest import image_data, small_cnn

    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = small_cnn(batchnorm=False)
        model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    x, y = image_data(64)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    dataset = dataset.with_options(options)
    callback = FeatVizCallback(
        os.path.join(outdir, "logs"), {"conv2": [0, 5, 9]}, probe_images=x[:8],
        am=AMOptions(steps=4), top_k=2, verbose=False,
    )
    if kind == "mirrored":
        model.fit(dataset, epochs=2, verbose=0, callbacks=[callback])
    else:
        # Keras 3's fit fails under MultiWorkerMirroredStrategy itself (PerReplica conversion,
        # keras-team/keras#20585), so the workers run a custom loop that drives the callback.
        custom_loop(strategy, model, dataset, callback, epochs=2)
    np.savez(os.path.join(outdir, "weights.npz"), *model.get_weights())
    print("visualized steps:", [step for step, _ in callback.timings], flush=True)


def custom_loop(strategy, model, dataset, callback, epochs):
    import keras

    loss_fn = keras.losses.SparseCategoricalCrossentropy(reduction="none")
    replicas = strategy.num_replicas_in_sync

    @tf.function
    def train_step(x, y):
        def step(x, y):
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(loss_fn(y, model(x, training=True))) / (16 * replicas)
            gradients = tape.gradient(loss, model.trainable_variables)
            model.optimizer.apply_gradients(zip(gradients, model.trainable_variables))
            return loss

        return strategy.run(step, args=(x, y))

    callbacks = keras.callbacks.CallbackList([callback], model=model)
    callbacks.on_train_begin()
    for epoch in range(epochs):
        callbacks.on_epoch_begin(epoch)
        for x, y in strategy.experimental_distribute_dataset(dataset):
            train_step(x, y)
        callbacks.on_epoch_end(epoch)
    callbacks.on_train_end()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
