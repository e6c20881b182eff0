from edge_spec.cli import main

main()
