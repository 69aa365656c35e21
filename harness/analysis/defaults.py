"""The defaults of the report's warnings and of the regression gate, in one light module the CLI reads."""
from __future__ import annotations

# harness report: warnings per cell
REPORT_CV_THRESHOLD = 0.05        # within-prompt CV above this fraction of the mean: "high CV"
REPORT_MIN_SAMPLES = 5            # fewer measured samples per cell: "few samples"

# harness compare: the gate
GATE_MIN_EFFECT = 0.05            # fraction: the interval's lower bound must clear 1.05 for "slower"
GATE_ALPHA = 0.05                 # family-wise: Holm-corrected Mann-Whitney p-values are compared with it
GATE_CV_THRESHOLD = 0.10          # within-prompt CV above this on either side: "unstable" (judged on samples only)
GATE_MIN_BLOCKS = 3               # blocks (app processes) a side from which a cell is judged on blocks, not samples
GATE_MIN_SAMPLES = 5              # measured samples per side below this: "unstable"
