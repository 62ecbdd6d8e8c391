from comments.cli import main

main()
