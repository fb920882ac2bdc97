"""Lazy loading of optimizer classes from optional libraries, and whether they work here."""
from __future__ import annotations

import functools
import importlib

import torch


class OptimizerUnavailableError(RuntimeError):
    """The library an optimizer comes from is missing or cannot run on this machine."""

    def __init__(self, optimizer: str, package: str, reason: str):
        self.optimizer = optimizer
        self.package = package
        self.reason = reason
        install = (f' It comes from the package "{package}"; install it with `pip install {package}` '
                   f'(or `pip install ".[train]"` for all optimizer libraries).') if package else ''
        super().__init__(f'Optimizer {optimizer} is not available: {reason}.{install}')


def _bitsandbytes_works() -> str | None:
    """bitsandbytes imports on most machines but its 8-bit kernels may be missing; try one step."""
    optim = importlib.import_module('bitsandbytes.optim')
    if torch.cuda.is_available():
        return None
    # 4096 elements is the default min_8bit_size, so this exercises the quantized state path.
    param = torch.nn.Parameter(torch.zeros(64, 64))
    param.grad = torch.ones(64, 64)
    optim.Adam8bit([param], lr=1e-3).step()
    if not torch.isfinite(param).all():
        return 'its 8-bit CPU kernels produce non-finite values'
    return None


# Extra run-time checks for libraries that import fine on machines where they cannot work.
_FUNCTIONAL_CHECKS = {
    'bitsandbytes': _bitsandbytes_works,
}


@functools.cache
def library_problem(module: str, package: str) -> str | None:
    """Why `module` cannot be used here, or None when it can (cached per process)."""
    try:
        importlib.import_module(module)
    except Exception as e:  # broken native libraries raise all kinds of errors on import
        return f'importing "{module}" failed ({type(e).__name__}: {e})'
    check = _FUNCTIONAL_CHECKS.get(package)
    if check is not None:
        try:
            problem = check()
        except Exception as e:
            return f'the package is installed but does not work on this machine ({type(e).__name__}: {e})'
        if problem:
            return problem
    return None


def load_attribute(optimizer: str, path: str, package: str):
    """Import ``module:attribute``; raise OptimizerUnavailableError naming the package on failure."""
    module, _, attribute = path.partition(':')
    problem = library_problem(module, package)
    if problem is not None:
        raise OptimizerUnavailableError(optimizer, package, problem)
    try:
        return getattr(importlib.import_module(module), attribute)
    except AttributeError as e:
        # e.g. an unrelated distribution that installs a module of the same name
        raise OptimizerUnavailableError(
            optimizer, package, f'"{module}" has no "{attribute}" (wrong package or version installed)'
        ) from e
