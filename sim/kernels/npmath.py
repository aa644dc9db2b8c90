"""numpy's float64 ``exp``, ``log``, ``log10`` and ``power``, to the bit, for compiled kernels.

On x86-64 with AVX-512 (numpy's ``AVX512_SKX`` dispatch target) numpy computes these ufuncs
with the high-accuracy SVML routines it ships and exports (``__svml_exp8_ha`` and friends in
``numpy._core._multiarray_umath``); they differ from libm's in the last place for a few per cent
of arguments, enough to move near-cancelling differences (a firm's rented less its serving
compute) off zero. A kernel that calls these functions instead of ``math.exp`` etc. gets
numpy's results exactly: each call puts its argument in lane 0 of an 8-lane vector (the other
lanes 1.0, as numpy fills a short tail) and reads lane 0 back; SVML's lanes are independent.

Elsewhere (no AVX-512, or a numpy without the SVML symbols) they are libm's functions, which
numpy's scalar loops use too (numpy's AVX2 loops for exp and log may still differ in the last
place there). Checked against numpy in ``tests/test_kernels.py``.
"""

from __future__ import annotations

import ctypes
import math

import llvmlite.binding as llvm
import numpy as np
import numpy._core._multiarray_umath as _umath
from llvmlite import ir
from numba import types
from numba.core.cgutils import get_or_insert_function
from numba.extending import intrinsic

from sim.kernels import jit

_NAMES = ("__svml_exp8_ha", "__svml_log8_ha", "__svml_log108_ha", "__svml_pow8_ha")


def _svml_available() -> bool:
    if not _umath.__cpu_features__.get("AVX512_SKX", False):
        return False
    try:
        lib = ctypes.CDLL(_umath.__file__)
        return all(hasattr(lib, name) for name in _NAMES)
    except OSError:
        return False


#: Whether the kernels call numpy's SVML routines (else libm).
SVML: bool = _svml_available()
if SVML:
    llvm.load_library_permanently(_umath.__file__)


def _lane0(builder, value):
    v8 = ir.VectorType(ir.DoubleType(), 8)
    return builder.insert_element(ir.Constant(v8, [1.0] * 8), value, ir.Constant(ir.IntType(32), 0))


def _svml1(name: str):
    @intrinsic
    def call(typingctx, x):
        def codegen(context, builder, signature, args):
            v8 = ir.VectorType(ir.DoubleType(), 8)
            fn = get_or_insert_function(builder.module, ir.FunctionType(v8, [v8]), name)
            out = builder.call(fn, [_lane0(builder, args[0])])
            return builder.extract_element(out, ir.Constant(ir.IntType(32), 0))

        return types.float64(types.float64), codegen

    return call


def _svml2(name: str):
    @intrinsic
    def call(typingctx, x, y):
        def codegen(context, builder, signature, args):
            v8 = ir.VectorType(ir.DoubleType(), 8)
            fn = get_or_insert_function(builder.module, ir.FunctionType(v8, [v8, v8]), name)
            lanes = [_lane0(builder, args[0]), _lane0(builder, args[1])]
            out = builder.call(fn, lanes)
            return builder.extract_element(out, ir.Constant(ir.IntType(32), 0))

        return types.float64(types.float64, types.float64), codegen

    return call


if SVML:
    _exp = _svml1("__svml_exp8_ha")
    _log = _svml1("__svml_log8_ha")
    _log10 = _svml1("__svml_log108_ha")
    _pow = _svml2("__svml_pow8_ha")

    @jit
    def exp(x):
        """``np.exp`` of a float."""
        return _exp(float(x))

    @jit
    def log(x):
        """``np.log`` of a float."""
        return _log(float(x))

    @jit
    def log10(x):
        """``np.log10`` of a float."""
        return _log10(float(x))

    @jit
    def power(x, y):
        """``np.power`` of two floats (not numpy's fast paths for ``array ** 0.5`` or ``** 2``)."""
        return _pow(float(x), float(y))

else:

    @jit
    def exp(x):
        """``np.exp`` of a float."""
        return math.exp(x)

    @jit
    def log(x):
        """``np.log`` of a float (NaN below zero, as numpy)."""
        return np.log(x)

    @jit
    def log10(x):
        """``np.log10`` of a float (NaN below zero, as numpy)."""
        return np.log10(x)

    @jit
    def power(x, y):
        """``np.power`` of two floats."""
        return x**y
