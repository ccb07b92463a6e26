import COsmoSys
import OsmoCommands

// Lines reach a pipe or a file when they are printed, as on a terminal: `kubectl logs`, a
// redirected `osmo service` and `osmo pod run` read them live (stdio would hold a pipe's
// output in 4 KiB blocks until exit).
osmo_line_buffer_stdout()
OsmoMain.main()
