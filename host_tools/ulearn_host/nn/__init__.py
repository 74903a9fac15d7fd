"""Host side of the int8 CNN: the IR (`ir`), the numpy int8 reference (`reference`), the CNN blob
writer (`export`) and the static arena planner (`plan`)."""
