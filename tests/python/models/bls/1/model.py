"""BLS: forwards INPUT0/INPUT1 to the model add_sub through the core and returns its OUTPUT0."""

import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        responses = []
        for request in requests:
            inner = pb_utils.InferenceRequest(
                model_name="add_sub",
                requested_output_names=["OUTPUT0"],
                inputs=[
                    pb_utils.get_input_tensor_by_name(request, "INPUT0"),
                    pb_utils.get_input_tensor_by_name(request, "INPUT1"),
                ],
            )
            result = inner.exec()
            if result.has_error():
                responses.append(
                    pb_utils.InferenceResponse(
                        error=pb_utils.TritonError(
                            "add_sub failed: " + result.error().message()
                        )
                    )
                )
                continue
            out = pb_utils.get_output_tensor_by_name(result, "OUTPUT0")
            responses.append(
                pb_utils.InferenceResponse(
                    output_tensors=[pb_utils.Tensor("OUTPUT0", out.as_numpy())]
                )
            )
        return responses
