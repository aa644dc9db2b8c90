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


# -- numpy's reductions and elementwise extrema, for kernels ---------------------------------------


@jit
def _pairwise_block(a, lo, n):
    """numpy's pairwise sum of ``a[lo:lo + n]`` for ``n <= 128``: a running sum below 8
    elements, else eight accumulators over the multiples of 8 and a running sum of the rest."""
    if n < 8:
        res = 0.0
        for i in range(n):
            res += a[lo + i]
        return res
    r0 = a[lo]
    r1 = a[lo + 1]
    r2 = a[lo + 2]
    r3 = a[lo + 3]
    r4 = a[lo + 4]
    r5 = a[lo + 5]
    r6 = a[lo + 6]
    r7 = a[lo + 7]
    i = 8
    m = n - n % 8
    while i < m:
        r0 += a[lo + i]
        r1 += a[lo + i + 1]
        r2 += a[lo + i + 2]
        r3 += a[lo + i + 3]
        r4 += a[lo + i + 4]
        r5 += a[lo + i + 5]
        r6 += a[lo + i + 6]
        r7 += a[lo + i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[lo + i]
        i += 1
    return res


@jit
def pairwise_sum(a, lo, n):
    """``np.add.reduce`` of ``a[lo:lo + n]`` (1-D) in numpy's order: its pairwise summation
    (blocks of up to 128 elements, larger ranges halved at a multiple of 8, the halves added).

    The halving is numpy's recursion run on an explicit stack (a cached numba function must
    not call itself)."""
    if n <= 128:
        return _pairwise_block(a, lo, n)
    los = np.empty(64, np.int64)
    ns = np.empty(64, np.int64)
    right = np.zeros(64, np.bool_)  # the frame is summing its right half
    left = np.empty(64)  # the frame's left half, once summed
    sp = 0
    los[0] = lo
    ns[0] = n
    right[0] = False
    while True:
        m = ns[sp]
        if m > 128:  # split: sum the left half first
            n2 = m // 2
            n2 -= n2 % 8
            los[sp + 1] = los[sp]
            ns[sp + 1] = n2
            right[sp + 1] = False
            sp += 1
            continue
        res = _pairwise_block(a, los[sp], m)
        sp -= 1
        while sp >= 0:  # return ``res`` to the parent frames
            if not right[sp]:  # it was the left half: now the right one
                left[sp] = res
                right[sp] = True
                n2 = ns[sp] // 2
                n2 -= n2 % 8
                los[sp + 1] = los[sp] + n2
                ns[sp + 1] = ns[sp] - n2
                right[sp + 1] = False
                sp += 1
                break
            res = left[sp] + res
            sp -= 1
        if sp < 0:
            return res


@jit
def maximum(a, b):
    """``np.maximum`` of two floats (a NaN propagates)."""
    return a if (a >= b or a != a) else b


@jit
def minimum(a, b):
    """``np.minimum`` of two floats (a NaN propagates)."""
    return a if (a <= b or a != a) else b


@jit
def add_reduce(a):
    """``np.add.reduce(a)`` of a 1-D float array, to the bit (numpy adds the identity first)."""
    return 0.0 + pairwise_sum(a, 0, a.shape[0])


@jit
def py_max(a, b):
    """Python's ``max(a, b)`` of two floats."""
    return b if b > a else a


@jit
def py_min(a, b):
    """Python's ``min(a, b)`` of two floats."""
    return b if b < a else a
