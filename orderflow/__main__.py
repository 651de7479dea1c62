from orderflow.cli.main import app

app()
