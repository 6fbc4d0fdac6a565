from sonicmotion.cli import main

raise SystemExit(main())
