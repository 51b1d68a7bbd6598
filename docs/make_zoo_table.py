"""docs/ZOO.md: which method applies to which layer of each keras.applications network.

    python -m docs.make_zoo_table > docs/ZOO.md

Builds each network of the zoo suite (tests/zoo.py, random weights, smallest input) and asks the
same question the callback asks before epoch 1, for the same early, middle and late layers.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> None:
    from tb_featviz import backward
    from tb_featviz.model_access import find_layer, operations_before
    from tb_featviz.methods import REGISTRY
    from tb_featviz.settings import Settings
    from tests import zoo

    print("# The model zoo: what each method does on keras.applications networks\n")
    print("Made by `python -m docs.make_zoo_table` from the networks `tests/test_zoo.py` checks "
          "(random weights; the answers depend on the architecture only). Per layer: the methods "
          "that apply with `deconv_rule=\"deconvnet\"`; where deconvnet is refused, the first "
          "nonlinearity on the path without a rule (deconv then runs only with "
          "`deconv_rule=\"gradient\"`). `weights` and `am` apply to every convolution.\n")
    print("| network | layer | type | deconv (deconvnet, guided) | nonlinear steps on the path: ReLU-family / max-pool / without a rule |")
    print("|---|---|---|---|---|")
    for name, constructor, size in zoo.ARCHITECTURES:
        model = zoo.build(constructor, size)
        for layer in zoo.pick_layers(model):
            ref = find_layer(model, layer)
            steps = backward.steps_on_path(operations_before(ref))
            status = {"deconv": REGISTRY["deconv"].applies(ref, steps, Settings(), None)}
            counts = [sum(s.kind == kind for s in steps) for kind in (backward.RELU_STEP, backward.SWITCHES, backward.NO_RULE)]
            blocking = next((s for s in steps if s.kind == backward.NO_RULE), None)
            deconv = "yes" if status["deconv"] is None else f"gradient only: {blocking.name} ({blocking.what})"
            print(f"| {name} | `{layer}` | {type(ref.layer).__name__} | {deconv} | {counts[0]} / {counts[1]} / {counts[2]} |")
        del model


if __name__ == "__main__":
    main()
