from flockwatch.cli.app import main

main()
