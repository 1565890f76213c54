import os


def pytest_report_header(config):
    return f"drop-in core under test: {os.environ.get('DROPIN_CORE')} ({os.environ.get('DROPIN_CORE_FILE')})"


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    terminalreporter.write_line(
        f"drop-in: Triton 2.51 tritonserver on core '{os.environ.get('DROPIN_CORE')}' "
        f"({os.environ.get('DROPIN_CORE_FILE')}), server log {os.environ.get('DROPIN_OUT')}/server.log"
    )
