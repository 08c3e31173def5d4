from stepui.cli import main

raise SystemExit(main())
