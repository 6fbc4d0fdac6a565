"""Scenes: several sources, each generated from a prompt or taken from a file, each on its
own path, mixed into one FOA soundscape (see docs/scenes.md)."""

from sonicmotion.scene.format import Scene, SceneError, SceneSource, load_scene, scene_from_dict
from sonicmotion.scene.generator import load_generator, load_library_generator
from sonicmotion.scene.render import RenderCancelled, SceneRender, render_scene, sidecar_path, write_scene_render

__all__ = [
    "RenderCancelled",
    "Scene",
    "SceneError",
    "SceneRender",
    "SceneSource",
    "load_generator",
    "load_library_generator",
    "load_scene",
    "render_scene",
    "scene_from_dict",
    "sidecar_path",
    "write_scene_render",
]
