"""Which ComfyUI custom node pack provides a node class: the most common packs of shared workflows.

An imported workflow keeps an unknown class as a placeholder; naming the pack it comes from tells the
user what the author had installed and what to look for. Class names are matched case-insensitively,
by the exact name first, then by the prefixes and suffixes some packs put on all of theirs.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NodePack:
    name: str  # the pack's repository name, as ComfyUI-Manager lists it
    description: str  # what it provides, in a few words


_PACKS: dict[str, NodePack] = {p.name: p for p in (
    NodePack("comfyui_controlnet_aux", "ControlNet preprocessors (edges, depth, pose, segmentation, …)"),
    NodePack("ComfyUI_IPAdapter_plus", "IP-Adapter image prompts, FaceID and style transfer"),
    NodePack("ComfyUI-Impact-Pack", "detectors, face and detail fixers, SEGS, iterative upscaling, wildcards"),
    NodePack("ComfyUI-Impact-Subpack", "Ultralytics (YOLO) detectors for the Impact Pack"),
    NodePack("ComfyUI-Inspire-Pack", "prompt, seed, regional and sampler utilities (companion to the Impact Pack)"),
    NodePack("rgthree-comfy", "workflow helpers: LoRA stacks, switches, seeds, group bypassers, context pipes"),
    NodePack("was-node-suite-comfyui", "WAS Node Suite: image filters, masks, text, numbers, file I/O"),
    NodePack("ComfyUI-Custom-Scripts", "pysssss scripts: text display, math expressions, presets, auto-arrange"),
    NodePack("efficiency-nodes-comfyui", "Efficiency Nodes: all-in-one loaders and samplers, LoRA and ControlNet "
                                         "stacks, XY plots"),
    NodePack("ComfyUI_Comfyroll_CustomNodes", "Comfyroll Studio: aspect ratios, switches, LoRA/ControlNet stacks, "
                                              "graphics and text"),
    NodePack("ComfyUI-KJNodes", "KJNodes: masks, batches, constants, set/get nodes, image and conditioning tools"),
    NodePack("ComfyUI-Advanced-ControlNet", "ControlNet scheduling, weights, keyframes and sparse control"),
    NodePack("ComfyUI-AnimateDiff-Evolved", "AnimateDiff motion models, contexts and sampling for animation"),
    NodePack("ComfyUI_UltimateSDUpscale", "Ultimate SD Upscale: tiled img2img upscaling"),
    NodePack("ComfyUI-VideoHelperSuite", "video loading, frame selection and video/GIF export"),
    NodePack("cg-use-everywhere", "Use Everywhere: broadcast one output to matching inputs without wires"),
    NodePack("ComfyUI_essentials", "essentials: image resize/crop, masks, sampler helpers, text and math"),
    NodePack("ComfyUI_tinyterraNodes", "tinyterra: pipe loaders, samplers and text/utility nodes"),
    NodePack("ComfyUI_FizzNodes", "prompt and value schedules over frames"),
    NodePack("Derfuu_ComfyUI_ModdedNodes", "Derfuu: math, sizes, scaling and value nodes"),
    NodePack("masquerade-nodes-comfyui", "Masquerade: mask creation, combining, cutting and pasting by mask"),
    NodePack("ComfyMath", "ComfyMath: number, vector and boolean arithmetic"),
    NodePack("ComfyUI-Crystools", "Crystools: resource monitor, metadata, debugging and utility nodes"),
    NodePack("ComfyUI-Easy-Use", "Easy Use: simplified loaders, samplers and pipes"),
    NodePack("ComfyUI_ADV_CLIP_emb", "advanced prompt weighting (token normalisation and weight interpretation)"),
    NodePack("ComfyUI_Noise", "noise control: noisy latents, noise injection, unsampling"),
    NodePack("ComfyUI_TiledKSampler", "tiled sampling for large images"),
    NodePack("ComfyUI_Cutoff", "Cutoff: limit prompt words to regions of the prompt"),
    NodePack("ComfyUI_smZNodes", "smZ: A1111-style prompt parsing and settings"),
    NodePack("sdxl_prompt_styler", "SDXL prompt styles from templates"),
    NodePack("SeargeSDXL", "Searge SDXL: all-in-one SDXL workflow nodes"),
    NodePack("comfyui-reactor-node", "ReActor face swap and restoration"),
    NodePack("ComfyUI-Image-Saver", "image saving with A1111-style metadata"),
    NodePack("ComfyUI-Frame-Interpolation", "frame interpolation (RIFE, FILM, …)"),
    NodePack("ComfyUI-Manager", "the node-pack manager (adds no nodes a workflow needs)"),
)}

# Pack → its classes (the ones shared workflows use most). Lower-cased for matching below.
_CLASSES: dict[str, tuple[str, ...]] = {
    "comfyui_controlnet_aux": (
        "AIO_Preprocessor", "AnimalPosePreprocessor", "AnimeFace_SemSegPreprocessor", "AnimeLineArtPreprocessor",
        "AnyLineArtPreprocessor_aux", "BAE-NormalMapPreprocessor", "BinaryPreprocessor", "CannyEdgePreprocessor",
        "ColorPreprocessor", "DensePosePreprocessor", "DepthAnythingPreprocessor", "DepthAnythingV2Preprocessor",
        "DiffusionEdge_Preprocessor", "DSINE-NormalMapPreprocessor", "DWPreprocessor", "FakeScribblePreprocessor",
        "HEDPreprocessor", "ImageGenResolutionFromImage", "ImageGenResolutionFromLatent", "ImageIntensityDetector",
        "InpaintPreprocessor", "LeReS-DepthMapPreprocessor", "LineArtPreprocessor", "LineartStandardPreprocessor",
        "M-LSDPreprocessor", "Manga2Anime_LineArt_Preprocessor", "MediaPipe-FaceMeshPreprocessor",
        "MeshGraphormer-DepthMapPreprocessor", "Metric3D-DepthMapPreprocessor", "Metric3D-NormalMapPreprocessor",
        "MiDaS-DepthMapPreprocessor", "MiDaS-NormalMapPreprocessor", "OneFormer-ADE20K-SemSegPreprocessor",
        "OneFormer-COCO-SemSegPreprocessor", "OpenposePreprocessor", "PiDiNetPreprocessor", "PixelPerfectResolution",
        "SAMPreprocessor", "SavePoseKpsAsJsonFile", "ScribblePreprocessor", "Scribble_XDoG_Preprocessor",
        "Scribble_PiDiNet_Preprocessor", "SemSegPreprocessor", "ShufflePreprocessor", "TEEDPreprocessor",
        "TilePreprocessor", "TTPlanet_TileGF_Preprocessor", "TTPlanet_TileSimple_Preprocessor",
        "UniFormer-SemSegPreprocessor", "Unimatch_OptFlowPreprocessor", "MaskOptFlow",
        "Zoe-DepthMapPreprocessor", "Zoe_DepthAnythingPreprocessor", "RenderPeopleKps", "RenderAnimalKps",
        "ControlNetPreprocessorSelector", "ExecuteAllControlNetPreprocessors",
    ),
    "ComfyUI_IPAdapter_plus": (
        "IPAdapter", "IPAdapterAdvanced", "IPAdapterBatch", "IPAdapterCombineEmbeds", "IPAdapterCombineParams",
        "IPAdapterEmbeds", "IPAdapterEncoder", "IPAdapterFaceID", "IPAdapterFaceIDBatch", "IPAdapterFromParams",
        "IPAdapterInsightFaceLoader", "IPAdapterLoadEmbeds", "IPAdapterModelLoader", "IPAdapterMS",
        "IPAdapterNoise", "IPAdapterPromptScheduleFromWeightsStrategy", "IPAdapterRegionalConditioning",
        "IPAdapterSaveEmbeds", "IPAdapterStyleComposition", "IPAdapterStyleCompositionBatch", "IPAdapterTiled",
        "IPAdapterTiledBatch", "IPAdapterUnifiedLoader", "IPAdapterUnifiedLoaderCommunity",
        "IPAdapterUnifiedLoaderFaceID", "IPAdapterWeights", "IPAdapterWeightsFromStrategy", "IPAdapterApply",
        "IPAdapterApplyEncoded", "IPAdapterApplyFaceID", "IPAdapterClipVisionEnhancer", "IPAdapterPreciseStyleTransfer",
        "IPAdapterPreciseComposition", "PrepImageForClipVision", "PrepImageForInsightFace",
    ),
    "ComfyUI-Impact-Pack": (
        "SAMLoader", "CLIPSegDetectorProvider", "ONNXDetectorProvider", "BitwiseAndMaskForEach", "SubtractMaskForEach",
        "DetailerForEach", "DetailerForEachDebug", "DetailerForEachPipe", "DetailerForEachDebugPipe",
        "DetailerForEachPipeForAnimateDiff", "SAMDetectorCombined", "SAMDetectorSegmented", "FaceDetailer",
        "FaceDetailerPipe", "MaskDetailerPipe", "ToDetailerPipe", "ToDetailerPipeSDXL", "FromDetailerPipe",
        "FromDetailerPipe_v2", "FromDetailerPipeSDXL", "ToBasicPipe", "FromBasicPipe", "FromBasicPipe_v2",
        "BasicPipeToDetailerPipe", "BasicPipeToDetailerPipeSDXL", "DetailerPipeToBasicPipe", "EditBasicPipe",
        "EditDetailerPipe", "EditDetailerPipeSDXL", "LatentPixelScale", "PixelKSampleUpscalerProvider",
        "PixelKSampleUpscalerProviderPipe", "IterativeLatentUpscale", "IterativeImageUpscale",
        "PixelTiledKSampleUpscalerProvider", "PixelTiledKSampleUpscalerProviderPipe",
        "TwoSamplersForMaskUpscalerProvider", "TwoSamplersForMaskUpscalerProviderPipe", "PixelKSampleHookCombine",
        "DenoiseScheduleHookProvider", "CfgScheduleHookProvider", "NoiseInjectionHookProvider",
        "NoiseInjectionDetailerHookProvider", "BitwiseAndMask", "SubtractMask", "AddMask", "Segs & Mask",
        "Segs & Mask ForEach", "EmptySegs", "MediaPipeFaceMeshToSEGS", "MaskToSEGS", "MaskToSEGS_for_AnimateDiff",
        "ToBinaryMask", "MasksToMaskList", "MaskListToMaskBatch", "ImageListToImageBatch", "BboxDetectorSEGS",
        "SegmDetectorSEGS", "ONNXDetectorSEGS", "BboxDetectorCombined_v2", "SegmDetectorCombined_v2",
        "SegsToCombinedMask", "KSamplerProvider", "TwoSamplersForMask", "TiledKSamplerProvider",
        "KSamplerAdvancedProvider", "TwoAdvancedSamplersForMask", "PreviewBridge", "PreviewBridgeLatent",
        "ImageSender", "ImageReceiver", "LatentSender", "LatentReceiver", "ImageMaskSwitch", "LatentSwitch",
        "SEGSSwitch", "SEGSDetailer", "SEGSPaste", "SEGSPreview", "SEGSToImageList", "SEGSDetailerForAnimateDiff",
        "ReencodeLatent", "ReencodeLatentPipe", "RegionalSampler", "RegionalSamplerAdvanced",
        "CombineRegionalPrompts", "RegionalPrompt", "RemoveNoiseMask", "MMDetDetectorProvider", "MMDetLoader",
        "MaskPainter", "SegsMaskCombine", "BboxDetectorForEach", "SegmDetectorForEach", "BboxDetectorCombined",
        "SegmDetectorCombined", "SetDefaultImageForSEGS", "GITSSchedulerFuncProvider", "StringListToString",
        "WildcardPromptFromString", "SEGSUpscaler", "SEGSUpscalerPipe", "SEGSLabelFilterDetailerHookProvider",
    ),
    "ComfyUI-Impact-Subpack": ("UltralyticsDetectorProvider",),
    "rgthree-comfy": ("Context (rgthree)", "Seed (rgthree)", "Power Lora Loader (rgthree)"),
    "was-node-suite-comfyui": (
        "BLIP Analyze Image", "BLIP Model Loader", "Blend Latents", "Bounded Image Blend",
        "Bounded Image Blend with Mask", "Bounded Image Crop", "Bounded Image Crop with Mask", "Bus Node",
        "CLIP Input Switch", "CLIP Vision Input Switch", "CLIPSeg Batch Masking", "CLIPSeg Masking",
        "CLIPSeg Model Loader", "CLIPTextEncode (BlenderNeko Advanced + NSP)", "CLIPTextEncode (NSP)",
        "Cache Node", "Checkpoint Loader", "Checkpoint Loader (Simple)", "Conditioning Input Switch",
        "Constant Number", "Control Net Model Input Switch", "Convert Masks to Images", "Create Grid Image",
        "Create Grid Image from Batch", "Create Morph Image", "Create Morph Image from Path", "Create Video from Path",
        "Debug Number to Console", "Dictionary to Console", "Diffusers Hub Model Down-Loader", "Diffusers Model Loader",
        "Export API", "Image Analyze", "Image Aspect Ratio", "Image Batch", "Image Blank", "Image Blend",
        "Image Blend by Mask", "Image Blending Mode", "Image Bloom Filter", "Image Bounds", "Image Canny Filter",
        "Image Chromatic Aberration", "Image Color Palette", "Image Crop Face", "Image Crop Location",
        "Image Crop Square Location", "Image Displacement Warp", "Image Dragan Photography Filter",
        "Image Edge Detection Filter", "Image Film Grain", "Image Filter Adjustments", "Image Flip",
        "Image Generate Gradient", "Image Gradient Map", "Image High Pass Filter", "Image History Loader",
        "Image Input Switch", "Image Levels Adjustment", "Image Load", "Image Lucy Sharpen", "Image Median Filter",
        "Image Mix RGB Channels", "Image Monitor Effects Filter", "Image Nova Filter", "Image Padding",
        "Image Paste Crop", "Image Paste Crop by Location", "Image Paste Face", "Image Perlin Noise",
        "Image Perlin Power Fractal", "Image Pixelate", "Image Power Noise", "Image Rembg (Remove Background)",
        "Image Remove Background (Alpha)", "Image Remove Color", "Image Resize", "Image Rotate", "Image Rotate Hue",
        "Image SSAO (Ambient Occlusion)", "Image SSDO (Direct Occlusion)", "Image Save", "Image Seamless Texture",
        "Image Select Channel", "Image Select Color", "Image Shadows and Highlights", "Image Size to Number",
        "Image Stitch", "Image Style Filter", "Image Threshold", "Image Tiled", "Image Transpose",
        "Image Voronoi Noise Filter", "Image fDOF Filter", "Image to Latent Mask", "Image to Noise", "Image to Seed",
        "Images to Linear", "Images to RGB", "Inset Image Bounds", "Integer place counter", "KSampler (WAS)",
        "KSampler Cycle", "Latent Batch", "Latent Input Switch", "Latent Noise Injection", "Latent Size to Number",
        "Latent Upscale by Factor (WAS)", "Load Cache", "Load Image Batch", "Load Lora", "Load Text File",
        "Logic Boolean", "Logic Boolean Primitive", "Logic Comparison AND", "Logic Comparison OR",
        "Logic Comparison XOR", "Logic NOT", "Lora Input Switch", "Lora Loader", "Mask Arbitrary Region",
        "Mask Batch", "Mask Batch to Mask", "Mask Ceiling Region", "Mask Crop Dominant Region",
        "Mask Crop Minority Region", "Mask Crop Region", "Mask Dilate Region", "Mask Dominant Region",
        "Mask Erode Region", "Mask Fill Holes", "Mask Floor Region", "Mask Gaussian Region", "Mask Invert",
        "Mask Minority Region", "Mask Paste Region", "Mask Rect Area", "Mask Rect Area (Advanced)",
        "Mask Smooth Region", "Mask Threshold Region", "Mask to Image", "Masks Add", "Masks Combine Batch",
        "Masks Combine Regions", "Masks Subtract", "MiDaS Depth Approximation", "MiDaS Mask Image",
        "MiDaS Model Loader", "Model Input Switch", "Number Counter", "Number Input Condition", "Number Input Switch",
        "Number Multiple Of", "Number Operation", "Number PI", "Number to Float", "Number to Int", "Number to Seed",
        "Number to String", "Number to Text", "Prompt Multiple Styles Selector", "Prompt Styles Selector",
        "Random Number", "SAM Image Mask", "SAM Model Loader", "SAM Parameters", "SAM Parameters Combine",
        "Samples Passthrough (Stat System)", "Save Text File", "Seed", "String to Text", "Tensor Batch to Image",
        "Text Add Token by Input", "Text Add Tokens", "Text Compare", "Text Concatenate", "Text Contains",
        "Text Dictionary Convert", "Text Dictionary Get", "Text Dictionary Keys", "Text Dictionary New",
        "Text Dictionary To Text", "Text Dictionary Update", "Text File History Loader", "Text Find and Replace",
        "Text Find and Replace Input", "Text Find and Replace by Dictionary", "Text Input Switch", "Text List",
        "Text List Concatenate", "Text List to Text", "Text Load Line From File", "Text Multiline",
        "Text Multiline (Code Compatible)", "Text Parse A1111 Embeddings", "Text Parse Noodle Soup Prompts",
        "Text Parse Tokens", "Text Random Line", "Text Random Prompt", "Text Shuffle", "Text String",
        "Text String Truncate", "Text to Conditioning", "Text to Console", "Text to Number", "Text to String",
        "True Random.org Number Generator", "Upscale Model Loader", "Upscale Model Switch", "VAE Input Switch",
        "Video Dump Frames", "Write to GIF", "Write to Video", "unCLIP Checkpoint Loader",
    ),
    "efficiency-nodes-comfyui": (
        "Efficient Loader", "Eff. Loader SDXL", "KSampler (Efficient)", "KSampler Adv. (Efficient)",
        "KSampler SDXL (Eff.)", "LoRA Stacker", "LoRA Stack to String converter", "Control Net Stacker",
        "Apply ControlNet Stack", "Unpack SDXL Tuple", "Pack SDXL Tuple", "XY Plot", "XY Input: Seeds++ Batch",
        "XY Input: Add/Return Noise", "XY Input: Steps", "XY Input: CFG Scale", "XY Input: Sampler/Scheduler",
        "XY Input: Denoise", "XY Input: VAE", "XY Input: Prompt S/R", "XY Input: Aesthetic Score",
        "XY Input: Refiner On/Off", "XY Input: Checkpoint", "XY Input: Clip Skip", "XY Input: LoRA",
        "XY Input: LoRA Plot", "XY Input: LoRA Stacks", "XY Input: Control Net", "XY Input: Control Net Plot",
        "XY Input: Manual XY Entry", "Manual XY Entry Info", "Join XY Inputs of Same Type", "Image Overlay",
        "Noise Control Script", "HighRes-Fix Script", "Tiled Upscaler Script", "AnimateDiff Script",
        "Evaluate Integers", "Evaluate Floats", "Evaluate Strings", "Simple Eval Examples",
    ),
    "ComfyUI-KJNodes": (
        "SetNode", "GetNode", "INTConstant", "FloatConstant", "StringConstant", "StringConstantMultiline",
        "ConditioningMultiCombine", "ConditioningSetMaskAndCombine", "ConditioningSetMaskAndCombine3",
        "ConditioningSetMaskAndCombine4", "ConditioningSetMaskAndCombine5", "GrowMaskWithBlur", "ColorToMask",
        "CreateGradientMask", "CreateTextMask", "CreateAudioMask", "CreateFadeMask", "CreateFadeMaskAdvanced",
        "CreateFluidMask", "CreateShapeMask", "CreateVoronoiMask", "CreateMagicMask", "BatchCropFromMask",
        "BatchCropFromMaskAdvanced", "BatchUncrop", "BatchUncropAdvanced", "BatchCLIPSeg", "RoundMask",
        "ResizeMask", "OffsetMask", "RemapMaskRange", "MaskBatchMulti", "ImageBatchMulti", "ImageConcanate",
        "ImageConcatMulti", "ImageGridComposite2x2", "ImageGridComposite3x3", "ImageBatchTestPattern",
        "ImageResizeKJ", "ImageResizeKJv2", "ImageUpscaleWithModelBatched", "ImageNormalize_Neg1_To_1",
        "ImagePadForOutpaintMasked", "ImagePadForOutpaintTargetSize", "ImageAndMaskPreview", "ImageTransformByNormalizedAmplitude",
        "GetImageSizeAndCount", "GetImageRangeFromBatch", "GetLatentsFromBatchIndexed", "GetImagesFromBatchIndexed",
        "InsertImagesToBatchIndexed", "InsertImageBatchByIndexes", "ReplaceImagesInBatch", "ReverseImageBatch",
        "ShuffleImageBatch", "SplitImageChannels", "MergeImageChannels", "CrossFadeImages", "ColorMatch",
        "AddLabel", "EmptyLatentImagePresets", "EmptyLatentImageCustomPresets", "WidgetToString", "SomethingToString",
        "JoinStrings", "JoinStringMulti", "SplitBboxes", "BboxToInt", "BboxVisualize", "VRAM_Debug", "Sleep",
        "DummyOut", "PlotCoordinates", "SplineEditor", "PointsEditor", "CreateInstanceDiffusionTracking",
        "AppendInstanceDiffusionTracking", "DrawInstanceDiffusionTracking", "ModelPassThrough", "StyleModelApplyAdvanced",
        "CheckpointPerturbWeights", "DifferentialDiffusionAdvanced", "FluxBlockLoraSelect", "PatchModelPatcherOrder",
        "Intrinsic_lora_sampling", "LoadResAdapterNormalization", "NormalizedAmplitudeToMask", "NormalizedAmplitudeToFloatList",
        "OffsetMaskByNormalizedAmplitude", "FloatToMask", "FloatToSigmas", "SigmasToFloat", "CustomSigmas",
        "InjectNoiseToLatent", "GenerateNoise", "StableZero123_BatchSchedule", "SV3D_BatchSchedule",
        "SoundReactive", "StringToFloatList", "ImageNoiseAugmentation", "RemapImageRange", "Screencap_mss",
        "WebcamCaptureCV2", "LoadImagesFromFolderKJ", "PreviewAnimation", "ImageCropByMaskAndResize",
        "ImageUncropByMask", "ImageCropByMaskBatch",
    ),
    "ComfyUI-Advanced-ControlNet": (
        "ControlNetLoaderAdvanced", "DiffControlNetLoaderAdvanced", "ScaledSoftControlNetWeights",
        "ScaledSoftMaskedUniversalWeights", "SoftControlNetWeights", "CustomControlNetWeights",
        "SoftT2IAdapterWeights", "CustomT2IAdapterWeights", "LatentKeyframe", "LatentKeyframeGroup",
        "LatentKeyframeBatchedGroup", "LatentKeyframeTiming", "TimestepKeyframe", "ControlNetApplyAdvanced_ACN",
        "LoadImagesFromDirectory",
    ),
    "ComfyUI-AnimateDiff-Evolved": (
        "AnimateDiffLoaderV1", "AnimateDiffLoader", "AnimateDiffLoaderWithContext", "AnimateDiffUniformContextOptions",
        "AnimateDiffUniformContextOptionsExperimental", "AnimateDiffModuleLoader", "AnimateDiffSampler",
        "AnimateDiffCombine", "AnimateDiffSlidingWindowOptions", "AnimateDiffSettings", "AnimateDiffKeyframe",
        "CheckpointLoaderSimpleWithNoiseSelect",
    ),
    "ComfyUI_UltimateSDUpscale": ("UltimateSDUpscale", "UltimateSDUpscaleNoUpscale", "UltimateSDUpscaleCustomSample"),
    "ComfyUI-VideoHelperSuite": (),
    "cg-use-everywhere": (
        "Anything Everywhere", "Anything Everywhere3", "Anything Everywhere?", "Anything Everywhere Triplet",
        "Prompts Everywhere", "Seed Everywhere",
    ),
    "ComfyUI_essentials": ("ApplyCLIPSeg+", "LoadCLIPSegModels+"),
    "ComfyUI_tinyterraNodes": (),
    "ComfyUI_FizzNodes": (
        "BatchPromptSchedule", "BatchPromptScheduleEncodeSDXL", "BatchPromptScheduleLatentInput",
        "BatchPromptScheduleNodeFlowEnd", "BatchStringSchedule", "BatchValueSchedule",
        "BatchValueScheduleLatentInput", "BatchGLIGENSchedule", "PromptSchedule", "PromptScheduleEncodeSDXL",
        "PromptScheduleNodeFlow", "PromptScheduleNodeFlowEnd", "StringSchedule", "ValueSchedule", "StringConcatenate",
        "Init FizzFrame", "FizzFrame", "FizzFrameConcatenate", "SawtoothWave", "SquareWave", "SinWave", "CosWave",
        "TriangleWave", "AbsCosWave", "AbsSinWave", "Lerp",
    ),
    "Derfuu_ComfyUI_ModdedNodes": (
        "Get image size", "Get latent size", "Image scale by ratio", "Image scale to side", "Latent Scale by ratio",
        "Latent Scale to side", "Upscale model by ratio", "Text box", "Tuple to floats", "Tuple to ints",
        "Int to float", "Float to int", "Absolute value", "Square root", "Concatenate text",
    ),
    "masquerade-nodes-comfyui": (
        "Mask By Text", "Mask Morphology", "Combine Masks", "Unary Mask Op", "Unary Image Op",
        "Image To Mask", "Mix Images By Mask", "Mix Color By Mask", "Mask To Region", "Cut By Mask", "Paste By Mask",
        "Get Image Size", "Change Channel Count", "Constant Mask", "Prune By Mask", "Separate Mask Components",
        "Create Rect Mask", "Make Image Batch", "Create QR Code", "Convert Color Space", "MasqueradeIncrementer",
    ),
    "ComfyMath": (),
    "ComfyUI-Crystools": (),
    "ComfyUI-Easy-Use": (),
    "ComfyUI_ADV_CLIP_emb": ("BNK_CLIPTextEncodeAdvanced", "BNK_CLIPTextEncodeSDXLAdvanced", "BNK_AddCLIPSDXLParams",
                             "BNK_AddCLIPSDXLRParams"),
    "ComfyUI_Noise": ("BNK_NoisyLatentImage", "BNK_InjectNoise", "BNK_DuplicateBatchIndex", "BNK_SlerpLatent",
                      "BNK_GetSigma", "BNK_Unsampler"),
    "ComfyUI_TiledKSampler": ("BNK_TiledKSampler", "BNK_TiledKSamplerAdvanced"),
    "ComfyUI_Cutoff": ("BNK_CutoffBasePrompt", "BNK_CutoffSetRegions", "BNK_CutoffRegionsToConditioning",
                       "BNK_CutoffRegionsToConditioning_ADV"),
    "ComfyUI_smZNodes": ("smZ CLIPTextEncode", "smZ Settings"),
    "sdxl_prompt_styler": ("SDXLPromptStyler", "SDXLPromptStylerAdvanced"),
    "comfyui-reactor-node": ("ReActorFaceSwap", "ReActorFaceSwapOpt", "ReActorLoadFaceModel", "ReActorSaveFaceModel",
                             "ReActorRestoreFace", "ReActorOptions", "ReActorFaceBoost", "ReActorBuildFaceModel",
                             "ReActorMaskHelper", "ReActorImageDublicator", "ImageRGBA2RGB"),
    "ComfyUI-Image-Saver": ("Image Saver", "Checkpoint Selector", "Sampler Selector", "Scheduler Selector",
                            "Seed Generator", "Width/Height Literal", "Cfg Literal", "Int Literal", "Float Literal",
                            "String Literal", "Conditioning Concat Optional", "SamplerSelector", "SchedulerSelector"),
    "ComfyUI-Frame-Interpolation": ("RIFE VFI", "FILM VFI", "GMFSS Fortuna VFI", "IFRNet VFI", "IFUnet VFI",
                                    "AMT VFI", "CAIN VFI", "FLAVR VFI", "STMFNet VFI", "Sepconv VFI",
                                    "Make Interpolation State Gradual"),
    "ComfyUI-Custom-Scripts": ("Repeater|pysssss",),
    "ComfyUI-Inspire-Pack": (),
}

# Name patterns that only one pack uses (lower case): (prefix or suffix, pack).
_PREFIXES = (
    ("cr ", "ComfyUI_Comfyroll_CustomNodes"), ("ttn ", "ComfyUI_tinyterraNodes"), ("ttn_", "ComfyUI_tinyterraNodes"),
    ("vhs_", "ComfyUI-VideoHelperSuite"), ("ade_", "ComfyUI-AnimateDiff-Evolved"),
    ("acn_", "ComfyUI-Advanced-ControlNet"), ("cm_", "ComfyMath"), ("impact", "ComfyUI-Impact-Pack"),
    ("easy ", "ComfyUI-Easy-Use"), ("ipadapter", "ComfyUI_IPAdapter_plus"), ("reactor", "comfyui-reactor-node"),
    ("searge", "SeargeSDXL"), ("smz ", "ComfyUI_smZNodes"), ("bnk_", "ComfyUI_ADV_CLIP_emb"),
)
_SUFFIXES = (
    (" (rgthree)", "rgthree-comfy"), ("|pysssss", "ComfyUI-Custom-Scripts"), (" //inspire", "ComfyUI-Inspire-Pack"),
    (" [crystools]", "ComfyUI-Crystools"), ("+", "ComfyUI_essentials"), (" (efficient)", "efficiency-nodes-comfyui"),
)

# Case-sensitive prefixes (a lower-case match would catch ordinary words).
_CASED_PREFIXES = (("WAS", "was-node-suite-comfyui"),)

_EXACT: dict[str, str] = {cls: pack for pack, classes in _CLASSES.items() for cls in classes}
# Case-insensitive fallback: where two packs differ only in case ("Get image size", "Get Image Size"), the
# exact name decides.
_FOLDED: dict[str, str] = {cls.lower(): pack for cls, pack in _EXACT.items()}


def pack_for(class_type: str) -> NodePack | None:
    """The custom node pack a ComfyUI class comes from, or None when it is not a known one."""
    key = class_type.strip().lower()
    name = _EXACT.get(class_type.strip()) or _FOLDED.get(key)
    if name is None:
        name = next((p for prefix, p in _PREFIXES if key.startswith(prefix)), None)
    if name is None:
        name = next((p for prefix, p in _CASED_PREFIXES if class_type.startswith(prefix)), None)
    if name is None:
        name = next((p for suffix, p in _SUFFIXES if key.endswith(suffix) and len(key) > len(suffix)), None)
    return _PACKS[name] if name is not None else None


def pack_note(class_type: str) -> str:
    """A clause naming the pack an unknown class needs ("" when the class is from no known pack)."""
    pack = pack_for(class_type)
    return "" if pack is None else f"; it needs the custom node pack {pack.name!r} ({pack.description})"


def known_class_count() -> int:
    """How many class names the table lists by name (patterns cover more)."""
    return len(_EXACT)
