from orderflow.cli import app

app()
