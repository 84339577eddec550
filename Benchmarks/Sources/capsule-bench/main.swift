print("capsule-bench: under construction")
