"""Host side of the int8 CNN: the IR (`ir`), the numpy int8 reference (`reference`), the CNN blob
writer/reader (`export`), the static arena planner (`plan`), random test models (`synth`, simulated)
and the named test cases / device test vectors (`cases`)."""
