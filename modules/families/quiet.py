"""Keep library chatter (progress bars, info logs) out of training output."""
from __future__ import annotations

import warnings
from functools import cache


@cache
def quiet_libraries() -> None:
    warnings.filterwarnings("ignore", category=FutureWarning)
    from diffusers.utils import logging as dlog
    from transformers.utils import logging as tlog

    dlog.set_verbosity_error()
    dlog.disable_progress_bar()
    tlog.set_verbosity_error()
    tlog.disable_progress_bar()
