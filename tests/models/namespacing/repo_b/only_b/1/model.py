# Minimal Python-backend model used by the repository corpus tests.
class TritonPythonModel:
    def initialize(self, args):
        pass

    def execute(self, requests):
        return []
