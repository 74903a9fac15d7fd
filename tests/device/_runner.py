# Runs one device test function inside MicroPython and prints a result line (driven by tests/conftest.py).
import sys

_MARK = "\x1eULEARN-TEST "


def _main(module_name, func_name):
    import devtest
    try:
        module = __import__(module_name)
        getattr(module, func_name)()
    except devtest.SkipTest as e:
        print(_MARK + "SKIP " + str(e))
        return
    except BaseException as e:  # noqa: B036 - report everything, including MemoryError
        sys.print_exception(e)
        print(_MARK + "FAIL")
        return
    print(_MARK + "PASS")


_main(sys.argv[1], sys.argv[2])
