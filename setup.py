"""Build the optional C kernels; all project metadata lives in pyproject.toml.

If the compiler is missing the build goes on without them and xsz falls back
to libstreamvbyte + numpy (same bytes, slower, and holding the GIL longer).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "xsz._kernels",
            sources=["xsz/_kernels.c"],
            extra_compile_args=["-O3", "-std=c99"],
            optional=True,
        )
    ]
)
