"""`bench-app-large`: a command-line program with the closure of a data or machine-learning tool.

It imports torch, numpy, pandas, scipy and pyarrow, does one small thing with each (a tensor
product, a DataFrame aggregation, a sparse matrix product, an Arrow table) and prints one line per
library, then `bench-app-large ok`, the line the benchmark checks for.
"""

from __future__ import annotations

import argparse
from importlib.metadata import version

import numpy
import pandas
import pyarrow
import pyarrow.compute
import scipy.sparse
import torch

DISTRIBUTIONS = ("torch", "numpy", "pandas", "scipy", "pyarrow")


def tensor_line() -> str:
    matrix = torch.arange(9, dtype=torch.float32).reshape(3, 3)
    return f"torch: trace of m @ m.T = {float(torch.trace(matrix @ matrix.T)):.0f}"


def frame_line(name: str) -> str:
    frame = pandas.DataFrame({"who": [name, name, "other"], "score": numpy.array([1.5, 2.5, 4.0])})
    means = frame.groupby("who")["score"].mean()
    return f"pandas: mean score of {name} = {means[name]:.1f}"


def sparse_line() -> str:
    identity = scipy.sparse.identity(4, format="csr")
    product = identity @ numpy.arange(4.0)
    return f"scipy: sum of I @ v = {product.sum():.0f}"


def arrow_line(name: str) -> str:
    table = pyarrow.table({"who": [name, "other"], "count": pyarrow.array([3, 4], type=pyarrow.int64())})
    return f"pyarrow: {table.num_rows} rows, count total {pyarrow.compute.sum(table['count']).as_py()}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench-app-large", description=__doc__)
    parser.add_argument("--name", default="world", help="who to greet")
    arguments = parser.parse_args(argv)
    print(", ".join(f"{distribution} {version(distribution)}" for distribution in DISTRIBUTIONS))
    print(tensor_line())
    print(frame_line(arguments.name))
    print(sparse_line())
    print(arrow_line(arguments.name))
    print("bench-app-large ok")
