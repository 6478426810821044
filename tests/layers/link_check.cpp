// Linked with one layer's every object and the layers below it
// (CMakeLists.txt, "The link check"); it never runs.
int main() { return 0; }
