"""How TensorBoard finds and configures the plugin (entry point `tensorboard_plugins: featviz`)."""

from __future__ import annotations

from tensorboard.plugins import base_plugin

from tb_featviz import metadata


class FeatVizLoader(base_plugin.TBLoader):
    """Loads the plugin and makes TensorBoard keep every epoch of its records.

    TensorBoard keeps only 10 samples per tag of a third-party plugin (reservoir sampling), so
    epochs would silently go missing. Unless the user chose a value with
    ``--samples_per_plugin featviz=N``, we ask for all of them (0 = keep all).
    """

    def fix_flags(self, flags) -> None:
        samples = getattr(flags, "samples_per_plugin", None)
        if isinstance(samples, dict):
            samples.setdefault(metadata.PLUGIN_NAME, 0)
        elif isinstance(samples, str) and f"{metadata.PLUGIN_NAME}=" not in samples:
            flags.samples_per_plugin = ",".join(
                part for part in (samples, f"{metadata.PLUGIN_NAME}=0") if part
            )

    def load(self, context: base_plugin.TBContext):
        from tb_featviz.plugin.plugin import FeatVizPlugin

        return FeatVizPlugin(context)
