"""Who-can-teach ranking, mentor/reverse/peer relations, insights and topic clusters."""
