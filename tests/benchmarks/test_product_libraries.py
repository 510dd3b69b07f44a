"""benchmarks/product_libraries.py: the step's products, each library agreeing, and the table."""

import subprocess
import sys

import pytest
import torch

from benchmarks import product_libraries
from skelcmd.encoders import kernels


def test_every_product_of_the_step_runs_alike_in_every_library():
    shapes = product_libraries.shapes(hidden=8)
    assert {kind for kind, *_ in shapes} == {"linear", "dx", "at_b", "add"}
    for shape in shapes:
        results = []
        for library in kernels.LIBRARIES:
            torch.manual_seed(0)  # the same operands for each library
            call = product_libraries.product(shape, torch.float32)
            with kernels.using(library):
                results.append(call().clone())
        for other in results[1:]:
            torch.testing.assert_close(other, results[0], rtol=1e-4, atol=1e-3)


@pytest.mark.slow
def test_the_table_names_each_library_and_the_choice():
    command = [
        sys.executable,
        "-m",
        "benchmarks.product_libraries",
        "--hidden",
        "8",
        "--rounds",
        "1",
    ]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    assert all(library in out.splitlines()[1] for library in kernels.LIBRARIES)
    assert len([line for line in out.splitlines() if "chosen: " in line]) == 9
