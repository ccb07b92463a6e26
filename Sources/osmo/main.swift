import OsmoCommands

OsmoMain.main()
