import logging
import threading

from installation.control.warning_log import MAX_MESSAGE_CHARS, WarningLog


def test_keeps_only_the_last_records_newest_first():
    """With capacity 3, the three newest warnings are kept, newest first."""
    with WarningLog(capacity=3) as warnings:
        for i in range(5):
            logging.getLogger("engine.loop").warning("warning %d", i)
    assert [w["message"] for w in warnings.recent()] == ["warning 4", "warning 3", "warning 2"]
    assert [w["message"] for w in warnings.recent(1)] == ["warning 4"]


def test_only_warning_and_worse_from_its_loggers_and_no_tracebacks():
    """INFO and other loggers' records are ignored; an exception record keeps its message, not the traceback."""
    with WarningLog() as warnings:
        logging.getLogger("installation.server.prompt_server").info("quiet")
        logging.getLogger("somebody.else").error("not ours")
        try:
            raise ValueError("deep detail")
        except ValueError:
            logging.getLogger("installation.server.prompt_server").exception("a connection failed")
    (entry,) = warnings.recent()
    assert entry["message"] == "a connection failed" and entry["level"] == "ERROR"
    assert "deep detail" not in str(entry) and set(entry) == {"time", "level", "logger", "message"}


def test_uninstall_stops_collecting_and_install_twice_adds_one_handler():
    """install() is idempotent; after uninstall() nothing more is kept, and what was kept stays."""
    warnings = WarningLog().install().install()
    assert logging.getLogger("engine").handlers.count(warnings) == 1
    logging.getLogger("engine").warning("kept")
    warnings.uninstall()
    warnings.uninstall()
    logging.getLogger("engine").warning("after")
    assert [w["message"] for w in warnings.recent()] == ["kept"]
    assert warnings not in logging.getLogger("engine").handlers


def test_long_messages_are_cut_to_one_line():
    """Multi-line or very long messages become one line of at most MAX_MESSAGE_CHARS characters."""
    with WarningLog() as warnings:
        logging.getLogger("engine").warning("line one\nline two " + "x" * 1000)
    message = warnings.recent()[0]["message"]
    assert message.startswith("line one line two") and len(message) == MAX_MESSAGE_CHARS


def test_threads_can_log_while_the_panel_reads():
    """Records logged from several threads at once are all counted, while recent() is read alongside."""
    with WarningLog(capacity=1000) as warnings:

        def spam():
            for i in range(100):
                logging.getLogger("engine.sources").warning("w%d", i)

        threads = [threading.Thread(target=spam) for _ in range(4)]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            warnings.recent()
        for t in threads:
            t.join()
    assert len(warnings.recent()) == 400
