"""Tiny random-weight annotator models, saved as the Hugging Face repos lay them out.

Same classes as the real weights, small configs, ``save_pretrained`` with their image-processor
config into ``<root>/annotators/<folder>``; the nodes then reload them with ``local_files_only``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import torch


def _save(folder: Path, model: torch.nn.Module, processor: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def depth_anything(folder: Path) -> Path:
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config
    from transformers.models.dpt.image_processing_pil_dpt import DPTImageProcessorPil

    backbone = Dinov2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
                            image_size=56, patch_size=14, out_features=["stage1", "stage2"],
                            reshape_hidden_states=False)
    cfg = DepthAnythingConfig(backbone_config=backbone, reassemble_hidden_size=32, neck_hidden_sizes=[16, 32],
                              fusion_hidden_size=16, head_hidden_size=8, reassemble_factors=[4, 2],
                              depth_estimation_type="relative")
    processor = DPTImageProcessorPil(size={"height": 518, "width": 518}, keep_aspect_ratio=True,
                                     ensure_multiple_of=14, resample=3, image_mean=[0.485, 0.456, 0.406],
                                     image_std=[0.229, 0.224, 0.225])
    return _save(folder, DepthAnythingForDepthEstimation(cfg), processor)


def dpt(folder: Path) -> Path:
    """A plain-ViT DPT (the dpt-large layout), which only runs on square inputs."""
    from transformers import DPTConfig, DPTForDepthEstimation
    from transformers.models.dpt.image_processing_pil_dpt import DPTImageProcessorPil

    cfg = DPTConfig(hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=37, image_size=64,
                    patch_size=16, backbone_out_indices=[0, 1, 2, 3], neck_hidden_sizes=[8, 16, 32, 32],
                    fusion_hidden_size=16, is_hybrid=False)
    processor = DPTImageProcessorPil(size={"height": 384, "width": 384}, keep_aspect_ratio=False,
                                     ensure_multiple_of=32)
    return _save(folder, DPTForDepthEstimation(cfg), processor)


def segformer(folder: Path) -> Path:
    from transformers import SegformerConfig, SegformerForSemanticSegmentation
    from transformers.models.segformer.image_processing_pil_segformer import SegformerImageProcessorPil

    cfg = SegformerConfig(num_encoder_blocks=2, depths=[1, 1], sr_ratios=[4, 2], hidden_sizes=[8, 16],
                          patch_sizes=[7, 3], strides=[4, 2], num_attention_heads=[1, 2], mlp_ratios=[2, 2],
                          decoder_hidden_size=16, num_labels=150)
    return _save(folder, SegformerForSemanticSegmentation(cfg), SegformerImageProcessorPil(size={"height": 512,
                                                                                                  "width": 512}))


def upernet(folder: Path) -> Path:
    from transformers import ConvNextConfig, UperNetConfig, UperNetForSemanticSegmentation
    from transformers.models.segformer.image_processing_pil_segformer import SegformerImageProcessorPil

    backbone = ConvNextConfig(hidden_sizes=[8, 16, 16, 16], depths=[1, 1, 1, 1],
                              out_features=["stage1", "stage2", "stage3", "stage4"])
    cfg = UperNetConfig(backbone_config=backbone, hidden_size=16, auxiliary_in_channels=16,
                        auxiliary_channels=8, num_labels=150)
    return _save(folder, UperNetForSemanticSegmentation(cfg), SegformerImageProcessorPil())


def oneformer(folder: Path, class_info_dir: Path) -> Path:
    """Saved like shi-labs' repo: the processor config names the Hub's class-info repo, so loading only
    works if the node points it at the local copy."""
    from transformers import OneFormerConfig, OneFormerForUniversalSegmentation, SwinConfig
    from transformers.models.oneformer.image_processing_pil_oneformer import OneFormerImageProcessorPil

    backbone = SwinConfig(embed_dim=16, depths=[1, 1, 1, 1], num_heads=[1, 1, 2, 2], window_size=4, image_size=64,
                          out_features=["stage1", "stage2", "stage3", "stage4"])
    cfg = OneFormerConfig(backbone_config=backbone, num_labels=150, hidden_dim=32, encoder_feedforward_dim=16,
                          dim_feedforward=16, decoder_layers=2, num_attention_heads=2, encoder_layers=1,
                          conv_dim=32, mask_dim=32, num_queries=10, text_encoder_width=32,
                          text_encoder_num_layers=1, text_encoder_proj_layers=1, text_encoder_n_ctx=4,
                          is_training=False, use_auxiliary_loss=False)
    processor = OneFormerImageProcessorPil(size={"shortest_edge": 64, "longest_edge": 256}, num_text=6,
                                           repo_path=str(class_info_dir), class_info_file="ade20k_panoptic.json",
                                           ignore_index=255, do_reduce_labels=False)
    _save(folder, OneFormerForUniversalSegmentation(cfg), processor)
    pp = folder / "preprocessor_config.json"
    data = json.loads(pp.read_text())
    data.update(repo_path="shi-labs/oneformer_demo")
    data.pop("metadata", None)
    pp.write_text(json.dumps(data))
    return folder


def rtdetr(folder: Path) -> Path:
    from transformers import RTDetrConfig, RTDetrForObjectDetection, RTDetrResNetConfig
    from transformers.models.rt_detr.image_processing_pil_rt_detr import RTDetrImageProcessorPil

    backbone = RTDetrResNetConfig(embedding_size=8, hidden_sizes=[8, 16, 16, 16], depths=[1, 1, 1, 1],
                                  layer_type="basic", out_features=["stage2", "stage3", "stage4"])
    # One class, "person", so every random detection is a person.
    cfg = RTDetrConfig(backbone_config=backbone, encoder_hidden_dim=16, encoder_in_channels=[16, 16, 16],
                       feat_strides=[8, 16, 32], encoder_layers=1, encoder_ffn_dim=16, encoder_attention_heads=2,
                       d_model=16, decoder_layers=1, decoder_ffn_dim=16, decoder_attention_heads=2,
                       decoder_in_channels=[16, 16, 16], num_queries=8, num_feature_levels=3, decoder_n_points=4,
                       anchor_image_size=None, id2label={0: "person"}, label2id={"person": 0})
    return _save(folder, RTDetrForObjectDetection(cfg), RTDetrImageProcessorPil(size={"height": 128, "width": 128}))


def vitpose(folder: Path) -> Path:
    from transformers import VitPoseBackboneConfig, VitPoseConfig, VitPoseForPoseEstimation
    from transformers.models.vitpose.image_processing_pil_vitpose import VitPoseImageProcessorPil

    backbone = VitPoseBackboneConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16,
                                     image_size=[64, 48], patch_size=[16, 16], out_indices=[1])
    cfg = VitPoseConfig(backbone_config=backbone, use_simple_decoder=True, num_labels=17)
    return _save(folder, VitPoseForPoseEstimation(cfg), VitPoseImageProcessorPil(size={"height": 64, "width": 48}))


def build_all(root: Path, class_info_dir: Path) -> dict[str, Path]:
    torch.manual_seed(0)
    ann = root / "annotators"
    builders: dict[str, Callable[[Path], Path]] = {
        "depth-anything-v2-small": depth_anything, "dpt-large": dpt, "segformer-b0-ade": segformer,
        "upernet-convnext-small": upernet, "rtdetr-r50vd": rtdetr, "vitpose-base-simple": vitpose,
        "oneformer-ade20k-swin-tiny": lambda f: oneformer(f, class_info_dir),
    }
    return {name: build(ann / name) for name, build in builders.items()}
