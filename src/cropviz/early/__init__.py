"""cropviz.early"""
