"""Build the optional C kernels; all project metadata lives in pyproject.toml.

If the compiler is missing the build goes on without them and xsz falls back
to libstreamvbyte + numpy (same bytes, slower, and holding the GIL longer).
The kernels load libzstd at run time (dlopen) to decode whole batches of frames
without the GIL; without it they leave zstd to python-zstandard.
"""

import sys

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "xsz._kernels",
            sources=["xsz/_kernels.c"],
            extra_compile_args=["-O3", "-std=c99"],
            # dlopen of libzstd (in libc from glibc 2.34; -ldl before), thread keys
            libraries=["dl", "pthread"] if sys.platform.startswith("linux") else [],
            optional=True,
        )
    ]
)
