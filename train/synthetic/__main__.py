from train.synthetic.generator import main

raise SystemExit(main())
