"""`python -m tb_featviz.cli`: the same as the `tb-featviz` command."""

import sys

from tb_featviz.cli import main

sys.exit(main())
