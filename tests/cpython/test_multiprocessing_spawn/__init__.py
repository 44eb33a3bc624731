# CPython 3.11.7 splits test_multiprocessing_spawn into this package in later releases; some installs
# (this machine's) lack the module, so the tests rebuild it from test._test_multiprocessing.
import os.path
import unittest
from test import support

if support.PGO:
    raise unittest.SkipTest("test is not helpful for PGO")

def load_tests(*args):
    return support.load_package_tests(os.path.dirname(__file__), *args)
