from skelcmd.cli import main

raise SystemExit(main())
