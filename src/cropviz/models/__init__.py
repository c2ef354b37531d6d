"""cropviz.models"""
